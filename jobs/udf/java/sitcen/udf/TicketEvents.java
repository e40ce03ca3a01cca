package sitcen.udf;

import java.nio.charset.StandardCharsets;

import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Splits the judged input: ticket events go on as (ticket_id, event) rows for the ticket operator,
 * the event one JSON array of {@code fields} in UTF-8; dead letters and too-late heartbeats leave
 * as output lines ({@link #LINES}); heartbeats end here, having moved event time.
 *
 * <p>Why here and not in SQL: a second pass of SQL over the stream meant converting every row
 * into the table world and back once more, and JSON_ARRAY built a JSON tree per event — together
 * more CPU than validating the line.
 */
public class TicketEvents extends ProcessFunction<Row, Row> {

    private static final long serialVersionUID = 1L;

    /** Output lines (dead letters, too-late heartbeats) in UTF-8, tagged with their table. */
    public static final OutputTag<byte[]> LINES =
            new OutputTag<>("lines", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);

    private final String[] fields;

    /** @param fields the judged row's fields that make a ticket event, in order */
    public TicketEvents(String[] fields) {
        this.fields = fields.clone();
    }

    @Override
    public void processElement(Row r, Context ctx, Collector<Row> out) {
        if (r.getField("code") != null) {
            ctx.output(LINES, deadLetter(r).getBytes(StandardCharsets.UTF_8));
        } else if ("heartbeat".equals(r.getField("etype"))) {
            if ("too_late".equals(r.getField("lateness"))) {
                ctx.output(LINES, lateHeartbeat(r).getBytes(StandardCharsets.UTF_8));
            }
        } else {
            StringBuilder event = new StringBuilder(384).append('[');
            for (int i = 0; i < fields.length; i++) {
                if (i > 0) {
                    event.append(',');
                }
                Object v = r.getField(fields[i]);
                if (v instanceof String) {
                    Json.quote((String) v, event);
                } else {
                    Json.number(v, event);
                }
            }
            event.append(']');
            out.collect(Row.of(r.getField("ticket_id"), event.toString().getBytes(StandardCharsets.UTF_8)));
        }
    }

    private static String deadLetter(Row r) {
        StringBuilder line = new StringBuilder(512).append("{\"_t\":\"dead_letters\",\"source\":");
        Json.quote((String) r.getField("source"), line).append(",\"partition\":0,\"offset\":");
        Json.number(r.getField("line_no"), line).append(",\"code\":");
        Json.quote((String) r.getField("code"), line).append(",\"detail\":");
        Json.quote((String) r.getField("detail"), line).append(",\"event_id\":");
        Object eventId = r.getField("event_id");
        Json.quote(eventId == null ? "" : (String) eventId, line).append(",\"raw\":");
        return Json.quote((String) r.getField("raw_line"), line).append('}').toString();
    }

    private static String lateHeartbeat(Row r) {
        Long ts = (Long) r.getField("ts_ms");
        Long maxSeen = (Long) r.getField("max_seen");
        StringBuilder line = new StringBuilder(512).append("{\"_t\":\"late_events\",\"source\":");
        Json.quote((String) r.getField("source"), line).append(",\"partition\":0,\"offset\":");
        Json.number(r.getField("line_no"), line).append(",\"event_id\":");
        Json.quote((String) r.getField("event_id"), line).append(",\"type\":");
        Json.quote((String) r.getField("etype"), line).append(",\"ticket_id\":\"\",\"branch_id\":");
        Json.quote((String) r.getField("branch_id"), line).append(",\"ts\":");
        Json.seconds(ts, line).append(",\"max_seen_ts\":");
        Json.seconds(maxSeen, line).append(",\"late_by_s\":");
        Json.seconds(maxSeen - ts, line).append(",\"raw\":");
        return Json.quote((String) r.getField("raw_line"), line).append('}').toString();
    }
}

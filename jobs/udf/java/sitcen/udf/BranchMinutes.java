package sitcen.udf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * The per-branch one-minute windows ({@code branch_minute}): the ticket operator's signed facts
 * summed per (branch, minute of event time), each changed window written as one JSON line when the
 * watermark next moves — so a window changed by many facts between two watermarks is written once,
 * with a version that counts the facts folded into it (the latest row wins in ClickHouse; a late
 * fact simply rewrites its minute).
 *
 * <p>Which fact feeds which column comes from the caller ({@code jobs/windows.py} derives it from
 * the pure reference {@code jobs/sla/minutes.MinuteCounter}); queue waits are kept as a multiset
 * of values so that the maximum is taken back exactly when a late event moves a wait. A window
 * whose counts are all zero again is written as a deletion. Windows idle for the state TTL
 * (processing time) are forgotten.
 *
 * <p>Input: rows (branch_id, minute_ms, fact, service, value, sign) from {@link Facts}, keyed by
 * {@link #KEY}; output: JSON lines tagged {@code "_t":"branch_minute"}.
 */
public class BranchMinutes extends KeyedProcessFunction<String, Row, byte[]> {

    private static final long serialVersionUID = 1L;

    /** The window of a fact row: branch and minute. */
    public static final KeySelector<Row, String> KEY = new WindowKey();

    private static final DateTimeFormatter MINUTE =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneOffset.UTC);

    private final String[] columns;
    private final Map<String, int[]> counted; // "fact\tservice" -> column indexes
    private final long ttlMs;
    private final int queueCount, ratingsCount, ratingsSum;

    private transient ValueState<long[]> sums; // one per column, then the version
    private transient MapState<Long, Long> queueWaits; // wait ms -> multiplicity

    /**
     * @param columns the count columns in output order
     * @param mapping lines {@code fact<TAB>service<TAB>col,col,...} for the plainly counted facts
     * @param ttlMs how long an untouched window is kept (processing time; 0: forever)
     */
    public BranchMinutes(String[] columns, String mapping, long ttlMs) {
        this.columns = columns.clone();
        this.counted = new HashMap<>();
        for (String line : mapping.split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split("\t", -1);
            String[] cols = parts[2].isEmpty() ? new String[0] : parts[2].split(",");
            int[] idx = new int[cols.length];
            for (int i = 0; i < cols.length; i++) {
                idx[i] = index(cols[i]);
            }
            counted.put(parts[0] + "\t" + parts[1], idx);
        }
        this.ttlMs = ttlMs;
        this.queueCount = index("queue_wait_count");
        this.ratingsCount = index("ratings_count");
        this.ratingsSum = index("ratings_sum");
    }

    private int index(String column) {
        for (int i = 0; i < columns.length; i++) {
            if (columns[i].equals(column)) {
                return i;
            }
        }
        throw new IllegalArgumentException("branch minutes: no column " + column);
    }

    @Override
    public void open(OpenContext openContext) {
        ValueStateDescriptor<long[]> sumsDesc =
                new ValueStateDescriptor<>("sums", PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO);
        MapStateDescriptor<Long, Long> queueDesc = new MapStateDescriptor<>("queue", Types.LONG, Types.LONG);
        if (ttlMs > 0) {
            StateTtlConfig ttl = StateTtlConfig.newBuilder(Duration.ofMillis(ttlMs)).build();
            sumsDesc.enableTimeToLive(ttl);
            queueDesc.enableTimeToLive(ttl);
        }
        sums = getRuntimeContext().getState(sumsDesc);
        queueWaits = getRuntimeContext().getMapState(queueDesc);
    }

    @Override
    public void processElement(Row f, Context ctx, Collector<byte[]> out) throws Exception {
        String fact = (String) f.getField(2);
        String service = (String) f.getField(3);
        long value = (Long) f.getField(4);
        int sign = (Integer) f.getField(5);
        long[] s = sums.value();
        if (s == null) {
            s = new long[columns.length + 1];
        }
        if (fact.equals("queue")) {
            s[queueCount] += sign;
            Long n = queueWaits.get(value);
            long left = (n == null ? 0 : n) + sign;
            if (left == 0) {
                queueWaits.remove(value);
            } else {
                queueWaits.put(value, left);
            }
        } else if (fact.equals("rating")) {
            s[ratingsCount] += sign;
            s[ratingsSum] += sign * value;
        } else {
            int[] cols = counted.get(fact + "\t" + service);
            if (cols != null) {
                for (int c : cols) {
                    s[c] += sign;
                }
            }
        }
        s[columns.length] += 1; // the version: facts folded
        sums.update(s);
        long watermark = ctx.timerService().currentWatermark();
        // written when the watermark next moves (a timer per instant and key is kept once)
        ctx.timerService().registerEventTimeTimer(watermark == Long.MAX_VALUE ? watermark : watermark + 1);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<byte[]> out) throws Exception {
        long[] s = sums.value();
        if (s == null) {
            return;
        }
        String key = ctx.getCurrentKey();
        int cut = key.lastIndexOf('\t');
        String branch = key.substring(0, cut);
        long minute = Long.parseLong(key.substring(cut + 1));
        long queueSum = 0, queueMax = 0;
        for (Map.Entry<Long, Long> e : queueWaits.entries()) {
            queueSum += e.getKey() * e.getValue();
            if (e.getValue() > 0) {
                queueMax = Math.max(queueMax, e.getKey());
            }
        }
        StringBuilder line = new StringBuilder(768);
        line.append("{\"_t\":\"branch_minute\",\"branch_id\":");
        Json.quote(branch, line);
        line.append(",\"window_start\":\"").append(MINUTE.format(java.time.Instant.ofEpochMilli(minute))).append('"');
        // Zero counts are left out: ClickHouse fills an absent column with its default, 0 (most
        // of a minute's columns are zero, and the row is parsed again by the load).
        boolean empty = true;
        for (int i = 0; i < columns.length; i++) {
            if (s[i] != 0) {
                line.append(",\"").append(columns[i]).append("\":").append(s[i]);
                empty = false;
            }
        }
        if (queueSum != 0) {
            Json.seconds(queueSum, line.append(",\"queue_wait_sum_s\":"));
        }
        if (queueMax != 0) {
            Json.seconds(queueMax, line.append(",\"queue_wait_max_s\":"));
        }
        line.append(",\"version\":").append(s[columns.length]);
        line.append(",\"is_deleted\":").append(empty ? 1 : 0).append('}');
        out.collect(line.toString().getBytes(StandardCharsets.UTF_8));
    }

    static final class WindowKey implements KeySelector<Row, String> {

        private static final long serialVersionUID = 1L;

        @Override
        public String getKey(Row f) {
            return f.getField(0) + "\t" + f.getField(1);
        }
    }

    /**
     * The ticket operator's records (lines, facts) → one row per fact: (branch_id, minute_ms, fact,
     * service, value, sign) from the UTF-8 JSON array {@code [[branch, minute_ms, fact, service,
     * value, sign], ...]} it sends per call (empty: none). The ticket operator writes this array, so
     * anything else is a bug and fails the job loudly.
     */
    public static class Facts implements FlatMapFunction<Tuple2<byte[], byte[]>, Row> {

        private static final long serialVersionUID = 1L;

        private static final JsonFactory FACTORY = new JsonFactory();

        @Override
        public void flatMap(Tuple2<byte[], byte[]> record, Collector<Row> out) throws IOException {
            byte[] facts = record.f1;
            if (facts == null || facts.length == 0) {
                return;
            }
            try (JsonParser p = FACTORY.createParser(facts)) {
                expect(p.nextToken(), JsonToken.START_ARRAY);
                while (p.nextToken() == JsonToken.START_ARRAY) {
                    String branch = text(p);
                    long minute = number(p);
                    String fact = text(p);
                    String service = text(p);
                    long value = number(p);
                    int sign = (int) number(p);
                    expect(p.nextToken(), JsonToken.END_ARRAY);
                    out.collect(Row.of(branch, minute, fact, service == null ? "" : service, value, sign));
                }
            }
        }

        private static String text(JsonParser p) throws IOException {
            JsonToken t = p.nextToken();
            if (t == JsonToken.VALUE_NULL) {
                return null;
            }
            expect(t, JsonToken.VALUE_STRING);
            return p.getText();
        }

        private static long number(JsonParser p) throws IOException {
            expect(p.nextToken(), JsonToken.VALUE_NUMBER_INT);
            return p.getLongValue();
        }

        private static void expect(JsonToken got, JsonToken wanted) {
            if (got != wanted) {
                throw new IllegalStateException("branch facts: expected " + wanted + ", got " + got);
            }
        }
    }
}

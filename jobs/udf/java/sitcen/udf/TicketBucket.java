package sitcen.udf;

import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.types.Row;

/**
 * The bucket of a (ticket_id, ...) row: a stable hash of the ticket id modulo the bucket count.
 * All of a ticket's events meet in one bucket; {@code String.hashCode} is the same in every JVM,
 * so a restored job puts each ticket back where its state is.
 */
public class TicketBucket implements KeySelector<Row, Row> {

    private static final long serialVersionUID = 1L;

    private final int buckets;

    public TicketBucket(int buckets) {
        if (buckets < 1) {
            throw new IllegalArgumentException("buckets must be at least 1, got " + buckets);
        }
        this.buckets = buckets;
    }

    public static int of(String ticketId, int buckets) {
        return Math.floorMod(ticketId.hashCode(), buckets);
    }

    @Override
    public Row getKey(Row row) {
        return Row.of(of((String) row.getField(0), buckets));
    }
}

package sitcen.udf;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.types.Row;
import org.apache.flink.types.RowKind;
import org.apache.flink.util.Collector;

/**
 * Turns an updating table's changelog into the rows as they become: inserts and update-afters
 * pass as inserts, update-befores (the retraction half of an update) are dropped. The rows carry
 * a version that grows with every change, so a store where the latest version wins holds the
 * table. A deletion passes as its last row (the windows summed here are never deleted: a group
 * once seen keeps counting its facts).
 */
public class LatestRows implements FlatMapFunction<Row, Row> {

    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(Row row, Collector<Row> out) {
        if (row.getKind() == RowKind.UPDATE_BEFORE) {
            return;
        }
        row.setKind(RowKind.INSERT);
        out.collect(row);
    }
}

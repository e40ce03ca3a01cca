package sitcen.udf;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.util.Collector;

/** The ticket operator's records (lines, facts) → their output lines (UTF-8, newline-joined as sent). */
public class RecordLines implements FlatMapFunction<Tuple2<byte[], byte[]>, byte[]> {

    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(Tuple2<byte[], byte[]> record, Collector<byte[]> out) {
        if (record.f0 != null && record.f0.length > 0) {
            out.collect(record.f0);
        }
    }
}

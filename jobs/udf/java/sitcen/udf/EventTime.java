package sitcen.udf;

import org.apache.flink.api.common.eventtime.SerializableTimestampAssigner;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkGeneratorSupplier;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.types.Row;

/**
 * Event time of the validated stream: each row's timestamp is its {@code ts_ms} (0 for a dead
 * letter, which has none and so never moves time), and the watermark trails the highest timestamp
 * seen by the out-of-orderness plus 1 ms — an event at {@code ts >= M - out_of_orderness} is on
 * time, so it is never behind the watermark.
 *
 * <p>When it is emitted: every {@code pipeline.auto-watermark-interval} of processing time (what a
 * live stream sees), and besides whenever it has moved on by {@code step} of event time since the
 * last one, so a replay running hours of event time a second still drains its keyed state as it goes.
 * Not SQL's watermark assigner: that one emits whenever event time has moved on by more than the
 * emit interval, which in a replay is after nearly every row — and every watermark flushes the
 * ticket batches and fires the ticket operator's timers, one Python call each.
 */
public final class EventTime {

    private EventTime() {}

    public static WatermarkStrategy<Row> strategy(long outOfOrdernessMs, long stepMs, String field) {
        return WatermarkStrategy.<Row>forGenerator(new Supplier(outOfOrdernessMs, stepMs))
                .withTimestampAssigner(new Assigner(field));
    }

    static final class Supplier implements WatermarkGeneratorSupplier<Row> {

        private static final long serialVersionUID = 1L;

        private final long outOfOrdernessMs;
        private final long stepMs;

        Supplier(long outOfOrdernessMs, long stepMs) {
            this.outOfOrdernessMs = outOfOrdernessMs;
            this.stepMs = stepMs;
        }

        @Override
        public WatermarkGenerator<Row> createWatermarkGenerator(Context context) {
            return new Generator(outOfOrdernessMs, stepMs);
        }
    }

    static final class Generator implements WatermarkGenerator<Row> {

        private final long lag;
        private final long stepMs;
        private long maxSeen = Long.MIN_VALUE;
        private long emitted = Long.MIN_VALUE;

        Generator(long outOfOrdernessMs, long stepMs) {
            this.lag = outOfOrdernessMs + 1;
            this.stepMs = stepMs;
        }

        @Override
        public void onEvent(Row row, long timestamp, WatermarkOutput output) {
            if (timestamp <= maxSeen) {
                return;
            }
            maxSeen = timestamp;
            long watermark = maxSeen - lag;
            if (stepMs > 0 && (emitted == Long.MIN_VALUE || watermark - emitted >= stepMs)) {
                emit(watermark, output);
            }
        }

        @Override
        public void onPeriodicEmit(WatermarkOutput output) {
            if (maxSeen != Long.MIN_VALUE && maxSeen - lag > emitted) {
                emit(maxSeen - lag, output);
            }
        }

        private void emit(long watermark, WatermarkOutput output) {
            emitted = watermark;
            output.emitWatermark(new Watermark(watermark));
        }
    }

    static final class Assigner implements SerializableTimestampAssigner<Row> {

        private static final long serialVersionUID = 1L;

        private final String field;

        Assigner(String field) {
            this.field = field;
        }

        @Override
        public long extractTimestamp(Row row, long previous) {
            Object ts = row.getField(field);
            return ts == null ? 0L : (Long) ts;
        }
    }
}

package sitcen.udf;

import java.io.IOException;
import java.util.Arrays;

import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.file.src.FileSource;
import org.apache.flink.connector.file.src.FileSourceSplit;
import org.apache.flink.connector.file.src.impl.StreamFormatAdapter;
import org.apache.flink.connector.file.src.reader.BulkFormat;
import org.apache.flink.connector.file.src.reader.SimpleStreamFormat;
import org.apache.flink.connector.file.src.reader.StreamFormat;
import org.apache.flink.connector.file.src.util.MutableRecordAndPosition;
import org.apache.flink.connector.file.src.util.RecordAndPosition;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.Path;
import org.apache.flink.types.Row;

/**
 * The input files as (source, line) rows: {@code source} is the file's path, {@code line} the raw
 * bytes of one {@code \n}-terminated line with one trailing CR removed (an empty line is a line;
 * a last line without newline is a line). Each file is one split, read in order, so lines keep
 * their delivery order per source; the position in a file is checkpointed by Flink's file source
 * (record count since the start), so a restored job reads on from where its checkpoint was.
 *
 * <p>Why not SQL's filesystem table: that put the table planner (seconds of planning and code
 * generation at start-up) in front of a job whose every other step is a plain function.
 */
public final class SourceLines implements BulkFormat<Row, FileSourceSplit> {

    private static final long serialVersionUID = 1L;

    public static final String[] FIELDS = {"source", "line"};
    public static final TypeInformation<Row> TYPE =
            Types.ROW_NAMED(FIELDS, Types.STRING, Types.PRIMITIVE_ARRAY(Types.BYTE));

    private final StreamFormatAdapter<byte[]> lines = new StreamFormatAdapter<>(new Lines());

    /** A bounded file source over {@code paths} (files or directories of them). */
    public static FileSource<Row> source(String... paths) {
        Path[] p = Arrays.stream(paths).map(Path::new).toArray(Path[]::new);
        return FileSource.forBulkFileFormat(new SourceLines(), p).build();
    }

    @Override
    public Reader<Row> createReader(Configuration config, FileSourceSplit split) throws IOException {
        return new Tagged(lines.createReader(config, split), split.path().getPath());
    }

    @Override
    public Reader<Row> restoreReader(Configuration config, FileSourceSplit split) throws IOException {
        return new Tagged(lines.restoreReader(config, split), split.path().getPath());
    }

    @Override
    public boolean isSplittable() {
        return false;
    }

    @Override
    public TypeInformation<Row> getProducedType() {
        return TYPE;
    }

    /** A split's lines, each tagged with the split's path. */
    private static final class Tagged implements Reader<Row> {

        private final Reader<byte[]> lines;
        private final String source;

        Tagged(Reader<byte[]> lines, String source) {
            this.lines = lines;
            this.source = source;
        }

        @Override
        public RecordIterator<Row> readBatch() throws IOException {
            RecordIterator<byte[]> batch = lines.readBatch();
            if (batch == null) {
                return null;
            }
            MutableRecordAndPosition<Row> out = new MutableRecordAndPosition<>();
            return new RecordIterator<>() {
                @Override
                public RecordAndPosition<Row> next() {
                    RecordAndPosition<byte[]> r = batch.next();
                    if (r == null) {
                        return null;
                    }
                    out.set(Row.of(source, r.getRecord()), r.getOffset(), r.getRecordSkipCount());
                    return out;
                }

                @Override
                public void releaseBatch() {
                    batch.releaseBatch();
                }
            };
        }

        @Override
        public void close() throws IOException {
            lines.close();
        }
    }

    /** Lines of one file, as Flink's raw line format cuts them. */
    static final class Lines extends SimpleStreamFormat<byte[]> {

        private static final long serialVersionUID = 1L;

        @Override
        public StreamFormat.Reader<byte[]> createReader(Configuration config, FSDataInputStream stream) {
            return new LineReader(stream);
        }

        @Override
        public TypeInformation<byte[]> getProducedType() {
            return PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO;
        }
    }

    static final class LineReader implements StreamFormat.Reader<byte[]> {

        private final FSDataInputStream in;
        private final byte[] buf = new byte[1 << 16];
        private int pos;
        private int limit;
        private boolean eof;
        private byte[] carry = new byte[1024]; // a line's bytes that began in an earlier buffer
        private int carried;

        LineReader(FSDataInputStream in) {
            this.in = in;
        }

        @Override
        public byte[] read() throws IOException {
            while (true) {
                if (pos == limit) {
                    if (eof || !fill()) {
                        if (carried == 0) {
                            return null;
                        }
                        byte[] last = line(carry, 0, carried);
                        carried = 0;
                        return last;
                    }
                }
                for (int i = pos; i < limit; i++) {
                    if (buf[i] == '\n') {
                        byte[] line;
                        if (carried == 0) {
                            line = line(buf, pos, i - pos);
                        } else {
                            keep(pos, i - pos);
                            line = line(carry, 0, carried);
                            carried = 0;
                        }
                        pos = i + 1;
                        return line;
                    }
                }
                keep(pos, limit - pos);
                pos = limit;
            }
        }

        private boolean fill() throws IOException {
            int n = in.read(buf, 0, buf.length);
            if (n <= 0) {
                eof = true;
                return false;
            }
            pos = 0;
            limit = n;
            return true;
        }

        private void keep(int from, int len) {
            if (carried + len > carry.length) {
                carry = Arrays.copyOf(carry, Math.max(carry.length * 2, carried + len));
            }
            System.arraycopy(buf, from, carry, carried, len);
            carried += len;
        }

        private static byte[] line(byte[] bytes, int from, int len) {
            if (len > 0 && bytes[from + len - 1] == '\r') {
                len--;
            }
            return Arrays.copyOfRange(bytes, from, from + len);
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}

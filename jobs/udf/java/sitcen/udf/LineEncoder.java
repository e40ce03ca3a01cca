package sitcen.udf;

import java.io.IOException;
import java.io.OutputStream;

import org.apache.flink.api.common.serialization.Encoder;

/**
 * Writes each output record (UTF-8 JSON lines, newline-joined) as it is, ending it with a newline:
 * the lines are bytes from where they are made to the part file, never decoded on the way.
 */
public final class LineEncoder implements Encoder<byte[]> {

    private static final long serialVersionUID = 1L;

    @Override
    public void encode(byte[] lines, OutputStream stream) throws IOException {
        stream.write(lines);
        stream.write('\n');
    }
}

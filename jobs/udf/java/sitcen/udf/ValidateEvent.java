package sitcen.udf;

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * {@code LATERAL TABLE(validate_event(line))}: validates one raw line (BYTES) against event contract
 * v1 and emits exactly one row. {@code code} is NULL for a valid event, else the dead-letter code
 * with its {@code detail}; on a dead letter the fields that could be read (strings that are
 * strings, an integer rating, a parsed ts) are filled and the rest are NULL. {@code size} is the
 * message length in bytes (one trailing CR stripped).
 *
 * <p>{@code main} validates stdin without Flink: one message per {@code \n}-separated line, prints
 * {@code code<TAB>ts_ms} per line ({@code OK} for a valid event, empty ts_ms when there is none);
 * {@code --detail} adds {@code <TAB>size<TAB>detail}; {@code --stats} prints the rate to stderr;
 * {@code --repeat N} then validates the same lines N more times (JIT warm) and prints each rate.
 */
@FunctionHint(
        output =
                @DataTypeHint(
                        "ROW<code STRING, detail STRING, event_id STRING, type STRING, ts_ms BIGINT, "
                                + "branch_id STRING, ticket_id STRING, service STRING, stage STRING, "
                                + "staff_id STRING, result STRING, rating INT, reason STRING, size INT>"))
public class ValidateEvent extends TableFunction<Row> {

    private static final long serialVersionUID = 1L;

    private transient Validator validator;

    @Override
    public void open(FunctionContext context) {
        validator = new Validator();
    }

    public void eval(byte[] line) {
        if (validator == null) {
            validator = new Validator();
        }
        Validator.Result r = validator.validate(line);
        collect(
                Row.of(
                        r.code,
                        r.detail,
                        r.eventId,
                        r.type,
                        r.tsMs,
                        r.branchId,
                        r.ticketId,
                        r.service,
                        r.stage,
                        r.staffId,
                        r.result,
                        r.rating,
                        r.reason,
                        r.size));
    }

    private static void report(String what, long lines, long valid, long bytes, long nanos) {
        double s = nanos / 1e9;
        System.err.printf(
                "%s: validated %d lines%s, %d bytes, in %.3f s: %.0f lines/s%n",
                what, lines, valid >= 0 ? " (" + valid + " valid)" : "", bytes, s, lines / s);
    }

    private static void writeAscii(OutputStream out, String s) throws IOException {
        for (int i = 0; i < s.length(); i++) {
            out.write(s.charAt(i));
        }
    }

    public static void main(String[] args) throws IOException {
        boolean detail = false;
        boolean stats = false;
        int repeat = 0;
        for (int k = 0; k < args.length; k++) {
            String a = args[k];
            if (a.equals("--detail")) {
                detail = true;
            } else if (a.equals("--stats")) {
                stats = true;
            } else if (a.equals("--repeat") && k + 1 < args.length) {
                repeat = Integer.parseInt(args[++k]);
                stats = true;
            } else {
                System.err.println("usage: ValidateEvent [--detail] [--stats] [--repeat N] < lines");
                System.exit(2);
            }
        }
        byte[] all = System.in.readAllBytes();
        OutputStream out = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16);
        Validator v = new Validator();
        long t0 = System.nanoTime();
        long lines = 0;
        long valid = 0;
        int start = 0;
        for (int i = 0; i <= all.length; i++) {
            if (i < all.length && all[i] != '\n') {
                continue;
            }
            if (i == all.length && start == i) {
                break; // no line after the final newline
            }
            Validator.Result r = v.validate(all, start, i - start);
            start = i + 1;
            lines++;
            if (r.code == null) {
                valid++;
                writeAscii(out, "OK");
            } else {
                writeAscii(out, r.code);
            }
            out.write('\t');
            if (r.tsMs != null) {
                writeAscii(out, Long.toString(r.tsMs));
            }
            if (detail) {
                out.write('\t');
                writeAscii(out, Integer.toString(r.size));
                out.write('\t');
                if (r.detail != null) {
                    String d = r.detail.replace('\t', ' ').replace('\n', ' ').replace('\r', ' ');
                    out.write(d.getBytes(StandardCharsets.UTF_8));
                }
            }
            out.write('\n');
        }
        out.flush();
        if (stats) {
            report("pass 1 (with JIT warm-up)", lines, valid, all.length, System.nanoTime() - t0);
        }
        for (int pass = 2; pass <= repeat + 1; pass++) {
            long t = System.nanoTime();
            int from = 0;
            long n = 0;
            for (int i = 0; i < all.length; i++) {
                if (all[i] == '\n') {
                    v.validate(all, from, i - from);
                    from = i + 1;
                    n++;
                }
            }
            report("pass " + pass, n, -1, all.length, System.nanoTime() - t);
        }
    }
}

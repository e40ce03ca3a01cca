package sitcen.udf;

import java.io.IOException;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * {@code LATERAL TABLE(branch_facts(facts))}: the ticket operator's signed branch facts, one row per
 * fact, from the UTF-8 JSON array it sends per call: {@code [[branch, minute_ms, fact, service,
 * value, sign], ...]} (empty bytes: none).
 *
 * <p>Why a function: one streaming parse per call, where unnesting with JSON_QUERY and reading each
 * field with JSON_VALUE parsed every fact seven times and cost as much CPU as reading the input.
 * The ticket operator writes this array, so anything else here is a bug and fails the job loudly.
 */
@FunctionHint(
        output =
                @DataTypeHint(
                        "ROW<branch_id STRING, wmin BIGINT, fact STRING, service STRING, fvalue BIGINT, sign INT>"))
public class BranchFacts extends TableFunction<Row> {

    private static final long serialVersionUID = 1L;

    private static final JsonFactory FACTORY = new JsonFactory();

    public void eval(byte[] facts) throws IOException {
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
                collect(Row.of(branch, minute, fact, service == null ? "" : service, value, sign));
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

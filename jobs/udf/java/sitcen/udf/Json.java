package sitcen.udf;

import java.math.BigDecimal;

/** The little JSON the job's Java functions write: string literals, numbers, epoch-ms as seconds. */
final class Json {

    private Json() {}

    /** Appends {@code s} as a JSON string literal ({@code null} as null). */
    static StringBuilder quote(String s, StringBuilder out) {
        if (s == null) {
            return out.append("null");
        }
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"');
    }

    /** Milliseconds as seconds with three decimals, exactly ({@code null} as null). */
    static StringBuilder seconds(Long ms, StringBuilder out) {
        return ms == null ? out.append("null") : out.append(BigDecimal.valueOf(ms, 3).toPlainString());
    }

    /** A number or null. */
    static StringBuilder number(Object n, StringBuilder out) {
        return out.append(n == null ? "null" : n.toString());
    }
}

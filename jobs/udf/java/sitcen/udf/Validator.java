package sitcen.udf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactoryBuilder;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadConstraints;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.StreamReadFeature;

/**
 * Event contract v1, validated in one streaming pass over one raw message.
 *
 * <p>The same rules, codes, check order and detail strings as the reference implementation
 * {@code schemas/validate.py} (JSON syntax errors are worded by Jackson); the corpus in {@code schemas/corpus/} proves that the two agree. The
 * message is decoded strictly as UTF-8 (invalid bytes are {@code invalid_json}), then read with
 * Flink's shaded Jackson streaming parser with duplicate detection on. One instance is not
 * thread-safe (it reuses its decoder and buffers); use one per task or thread.
 */
public final class Validator {

    public static final int MAX_BYTES = 65536;
    public static final int MAX_ID_LENGTH = 64;
    public static final int MAX_REASON_LENGTH = 1000;

    public static final String OVERSIZED = "oversized";
    public static final String INVALID_JSON = "invalid_json";
    public static final String NOT_OBJECT = "not_object";
    public static final String MISSING_FIELD = "missing_field";
    public static final String FIELD_NOT_ALLOWED = "field_not_allowed";
    public static final String WRONG_TYPE = "wrong_type";
    public static final String UNKNOWN_ENUM = "unknown_enum";
    public static final String BAD_TIMESTAMP = "bad_timestamp";
    public static final String BAD_LENGTH = "bad_length";
    public static final String RATING_OUT_OF_RANGE = "rating_out_of_range";
    public static final String BAD_SCHEMA_VERSION = "bad_schema_version";

    /** Contract fields in the order checks visit them within one code. */
    static final String[] FIELDS = {
        "event_id", "type", "ts", "branch_id", "ticket_id", "service",
        "stage", "staff_id", "result", "rating", "reason", "schema"
    };
    static final int EVENT_ID = 0, TYPE = 1, TS = 2, BRANCH_ID = 3, TICKET_ID = 4, SERVICE = 5,
            STAGE = 6, STAFF_ID = 7, RESULT = 8, RATING = 9, REASON = 10, SCHEMA = 11;
    static final int N_FIELDS = FIELDS.length;

    // JSON kind of a field's value.
    static final byte ABSENT = 0, STRING = 1, INTEGER = 2, NUMBER = 3, BOOLEAN = 4, NULL = 5,
            ARRAY = 6, OBJECT = 7;
    static final String[] KIND_NAMES = {
        "absent", "string", "integer", "number", "boolean", "null", "array", "object"
    };

    static final String[] TYPES = {
        "ticket_issued", "stage_started", "stage_finished", "document_issued",
        "ticket_cancelled", "rating_submitted", "heartbeat"
    };
    static final int STAGE_FINISHED_TYPE = 2;

    /** Fields required beyond event_id, type, ts, branch_id; per type, in field order. */
    static final int[][] REQUIRED = {
        {TICKET_ID, SERVICE},
        {TICKET_ID, STAGE},
        {TICKET_ID, STAGE},
        {TICKET_ID},
        {TICKET_ID},
        {TICKET_ID, STAFF_ID, RATING},
        {}
    };

    private static int bit(int field) {
        return 1 << field;
    }

    static final int COMMON = bit(EVENT_ID) | bit(TYPE) | bit(TS) | bit(BRANCH_ID) | bit(SCHEMA);
    static final int TICKET = COMMON | bit(TICKET_ID) | bit(SERVICE);
    /** Fields allowed per type; stage_finished also allows result when stage is an exam. */
    static final int[] ALLOWED = {
        TICKET,
        TICKET | bit(STAGE) | bit(STAFF_ID),
        TICKET | bit(STAGE) | bit(STAFF_ID),
        TICKET,
        TICKET | bit(REASON),
        TICKET | bit(STAFF_ID) | bit(RATING),
        COMMON
    };
    static final int ALL_FIELDS = (1 << N_FIELDS) - 1;

    private static final JsonFactory FACTORY =
            new JsonFactoryBuilder()
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    // No shared symbol table: any set of keys parses the same way.
                    .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES)
                    // A message is at most 64 KiB; within that, nesting, numbers and names are
                    // limited only by the contract (same as the reference validator).
                    .streamReadConstraints(
                            StreamReadConstraints.builder()
                                    .maxNestingDepth(Integer.MAX_VALUE)
                                    .maxNumberLength(Integer.MAX_VALUE)
                                    .maxStringLength(Integer.MAX_VALUE)
                                    .maxNameLength(Integer.MAX_VALUE)
                                    .build())
                    .build();

    private static final int[] DAYS_IN_MONTH = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    /** Outcome of one message: {@code code == null} for a valid event. */
    public static final class Result {
        public String code;
        public String detail;
        public String eventId;
        public String type;
        public String ts;
        public Long tsMs;
        public String branchId;
        public String ticketId;
        public String service;
        public String stage;
        public String staffId;
        public String result;
        public Integer rating;
        public String reason;
        public int size;

        public boolean isValid() {
            return code == null;
        }
    }

    private final int maxBytes;
    private final CharsetDecoder decoder =
            StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
    private final CharBuffer chars;

    // Per message: what the object held, by contract field.
    private final byte[] kinds = new byte[N_FIELDS];
    private final String[] strings = new String[N_FIELDS];
    private final long[] longs = new long[N_FIELDS];
    private final boolean[] inLongRange = new boolean[N_FIELDS];
    private String firstExtraKey;
    private String tsError;

    public Validator() {
        this(MAX_BYTES);
    }

    public Validator(int maxBytes) {
        this.maxBytes = maxBytes;
        this.chars = CharBuffer.allocate(Math.max(maxBytes, 16));
    }

    public Result validate(byte[] line) {
        return line == null ? validate(new byte[0], 0, 0) : validate(line, 0, line.length);
    }

    /** Validates {@code buf[off, off+len)}. Never throws on any input. */
    public Result validate(byte[] buf, int off, int len) {
        Result r = new Result();
        try {
            return validateInto(r, buf, off, len);
        } catch (RuntimeException e) { // a bug must not stop a job; the tests assert this never happens
            r.code = INVALID_JSON;
            r.detail = "validator error: " + e;
            return r;
        }
    }

    private Result validateInto(Result r, byte[] buf, int off, int len) {
        if (len > 0 && buf[off + len - 1] == '\r') {
            len--;
        }
        r.size = len;
        if (len > maxBytes) {
            return fail(r, OVERSIZED, "message is " + len + " bytes, over the " + maxBytes + "-byte limit");
        }
        if (heartbeat(r, buf, off, len)) {
            return r;
        }
        if (flatObject(buf, off, off + len)) {
            return check(r);
        }
        ByteBuffer in = ByteBuffer.wrap(buf, off, len);
        CharBuffer out = chars;
        out.clear();
        decoder.reset();
        CoderResult cr = decoder.decode(in, out, true);
        if (!cr.isError() && !cr.isOverflow()) {
            cr = decoder.flush(out);
        }
        if (cr.isError() || cr.isOverflow()) {
            return fail(r, INVALID_JSON, "not valid UTF-8 (byte " + (in.position() - off) + ")");
        }
        char[] text = out.array();
        int n = out.position();

        for (int f = 0; f < N_FIELDS; f++) {
            kinds[f] = ABSENT;
            strings[f] = null;
        }
        firstExtraKey = null;
        byte rootKind;
        try (JsonParser p = FACTORY.createParser(text, 0, n)) {
            JsonToken t = p.nextToken();
            if (t == null) {
                return fail(r, INVALID_JSON, "not strict JSON: no value");
            }
            rootKind = kindOf(t);
            if (t == JsonToken.START_OBJECT) {
                readObject(p);
            } else {
                p.skipChildren();
            }
            if (p.nextToken() != null) {
                return fail(r, INVALID_JSON, "not strict JSON: data after the JSON value");
            }
        } catch (JsonProcessingException e) {
            return fail(r, INVALID_JSON, jsonError(e));
        } catch (IOException e) {
            return fail(r, INVALID_JSON, "not strict JSON: " + e.getMessage());
        }
        if (maySpellSurrogate(text, n) && hasUnpairedSurrogate(text, n)) {
            return fail(r, INVALID_JSON, "not strict JSON: unpaired UTF-16 surrogate escape");
        }
        if (rootKind != OBJECT) {
            return fail(r, NOT_OBJECT, "JSON " + KIND_NAMES[rootKind] + ", not an object");
        }
        return check(r);
    }

    // ---------------------------------------------------------------------------------------
    // Heartbeats in the shape systems send them

    private static final byte[] HB_EVENT_ID = ascii("{\"event_id\":\"");
    private static final byte[] HB_TYPE_TS = ascii("\",\"type\":\"heartbeat\",\"ts\":\"");
    private static final byte[] HB_BRANCH_ID = ascii("\",\"branch_id\":\"");
    private static final byte[] HB_END = ascii("\"}");

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /**
     * Three lines in four are heartbeats, nearly all written exactly as
     * {@code {"event_id":"…","type":"heartbeat","ts":"…","branch_id":"…"}} with printable ASCII
     * values free of quotes and backslashes. For such a line the full path can only conclude
     * "valid" or fail on the values themselves; this checks those values (ids 1-64 characters,
     * the timestamp) directly on the bytes and fills {@code r}. Any other line, and any line whose
     * values fail, returns false and takes the full path, which words the outcome.
     */
    private boolean heartbeat(Result r, byte[] buf, int off, int len) {
        int end = off + len;
        int i = expect(buf, off, end, HB_EVENT_ID);
        int idStart = i;
        i = plainAscii(buf, i, end);
        int idEnd = i;
        i = expect(buf, i, end, HB_TYPE_TS);
        int tsStart = i;
        i = plainAscii(buf, i, end);
        int tsEnd = i;
        i = expect(buf, i, end, HB_BRANCH_ID);
        int branchStart = i;
        i = plainAscii(buf, i, end);
        int branchEnd = i;
        if (expect(buf, i, end, HB_END) != end
                || idEnd - idStart < 1 || idEnd - idStart > MAX_ID_LENGTH
                || branchEnd - branchStart < 1 || branchEnd - branchStart > MAX_ID_LENGTH) {
            return false;
        }
        String ts = new String(buf, tsStart, tsEnd - tsStart, StandardCharsets.ISO_8859_1);
        long tsMs = parseTs(ts);
        if (tsError != null) {
            return false;
        }
        r.eventId = new String(buf, idStart, idEnd - idStart, StandardCharsets.ISO_8859_1);
        r.type = TYPES[TYPES.length - 1];
        r.ts = ts;
        r.tsMs = tsMs;
        r.branchId = new String(buf, branchStart, branchEnd - branchStart, StandardCharsets.ISO_8859_1);
        return true;
    }

    /**
     * The simplest JSON an event can be: one object, no whitespace, contract keys only, each once,
     * values plain printable-ASCII strings (no escapes) or unsigned integers. For such a line the
     * JSON parser would report exactly these keys and values, so they are read here straight into
     * the per-field arrays {@link #check} judges — the same rules, codes and details. Anything
     * else returns false (nothing judged) and takes the full path.
     */
    private boolean flatObject(byte[] buf, int i, int end) {
        for (int f = 0; f < N_FIELDS; f++) {
            kinds[f] = ABSENT;
            strings[f] = null;
        }
        firstExtraKey = null;
        if (end - i < 2 || buf[i] != '{' || buf[end - 1] != '}') {
            return false;
        }
        i++;
        end--;
        while (true) {
            if (i >= end || buf[i] != '"') {
                return false;
            }
            int keyEnd = plainAscii(buf, i + 1, end);
            if (keyEnd >= end || buf[keyEnd] != '"' || keyEnd + 1 >= end || buf[keyEnd + 1] != ':') {
                return false;
            }
            int f = fieldIndex(new String(buf, i + 1, keyEnd - i - 1, StandardCharsets.ISO_8859_1));
            if (f < 0 || kinds[f] != ABSENT) {
                return false; // an extra key or a duplicate: worded by the full path
            }
            i = keyEnd + 2;
            if (i >= end) {
                return false;
            }
            if (buf[i] == '"') {
                int valueEnd = plainAscii(buf, i + 1, end);
                if (valueEnd >= end || buf[valueEnd] != '"') {
                    return false;
                }
                kinds[f] = STRING;
                strings[f] = new String(buf, i + 1, valueEnd - i - 1, StandardCharsets.ISO_8859_1);
                i = valueEnd + 1;
            } else {
                int digits = i;
                long v = 0;
                while (digits < end && buf[digits] >= '0' && buf[digits] <= '9' && digits - i < 18) {
                    v = v * 10 + (buf[digits] - '0');
                    digits++;
                }
                if (digits == i || (buf[i] == '0' && digits - i > 1)
                        || (digits < end && buf[digits] != ',')) {
                    return false; // not an unsigned integer of up to 18 digits in JSON's spelling
                }
                kinds[f] = INTEGER;
                longs[f] = v;
                inLongRange[f] = true;
                i = digits;
            }
            if (i == end) {
                return true;
            }
            if (buf[i] != ',') {
                return false;
            }
            i++;
        }
    }

    /** The index after {@code literal} at {@code i}, or {@code end + 1} (no match; stays past the end). */
    private static int expect(byte[] buf, int i, int end, byte[] literal) {
        if (i > end || end - i < literal.length) {
            return end + 1;
        }
        for (int k = 0; k < literal.length; k++) {
            if (buf[i + k] != literal[k]) {
                return end + 1;
            }
        }
        return i + literal.length;
    }

    /** The index of the first byte at or after {@code i} that is not printable ASCII or is a quote or backslash. */
    private static int plainAscii(byte[] buf, int i, int end) {
        while (i < end) {
            byte b = buf[i];
            if (b < 0x20 || b > 0x7e || b == '"' || b == '\\') {
                break;
            }
            i++;
        }
        return i;
    }

    private void readObject(JsonParser p) throws IOException {
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String name = p.currentName();
            int f = fieldIndex(name);
            JsonToken v = p.nextToken();
            if (f < 0) {
                if (firstExtraKey == null) {
                    firstExtraKey = name;
                }
                p.skipChildren();
                continue;
            }
            byte kind = kindOf(v);
            kinds[f] = kind;
            if (kind == STRING) {
                strings[f] = p.getText();
            } else if (kind == INTEGER) {
                JsonParser.NumberType nt = p.getNumberType();
                if (nt == JsonParser.NumberType.INT || nt == JsonParser.NumberType.LONG) {
                    longs[f] = p.getLongValue();
                    inLongRange[f] = true;
                } else {
                    inLongRange[f] = false;
                }
            } else if (kind == ARRAY || kind == OBJECT) {
                p.skipChildren();
            }
        }
        // Jackson throws on anything but END_OBJECT here.
    }

    private static byte kindOf(JsonToken t) {
        switch (t) {
            case VALUE_STRING:
                return STRING;
            case VALUE_NUMBER_INT:
                return INTEGER;
            case VALUE_NUMBER_FLOAT:
                return NUMBER;
            case VALUE_TRUE:
            case VALUE_FALSE:
                return BOOLEAN;
            case VALUE_NULL:
                return NULL;
            case START_ARRAY:
                return ARRAY;
            case START_OBJECT:
                return OBJECT;
            default:
                throw new IllegalStateException("unexpected token " + t);
        }
    }

    private static int fieldIndex(String name) {
        switch (name) {
            case "event_id":
                return EVENT_ID;
            case "type":
                return TYPE;
            case "ts":
                return TS;
            case "branch_id":
                return BRANCH_ID;
            case "ticket_id":
                return TICKET_ID;
            case "service":
                return SERVICE;
            case "stage":
                return STAGE;
            case "staff_id":
                return STAFF_ID;
            case "result":
                return RESULT;
            case "rating":
                return RATING;
            case "reason":
                return REASON;
            case "schema":
                return SCHEMA;
            default:
                return -1;
        }
    }

    private static int typeIndex(String type) {
        switch (type) {
            case "ticket_issued":
                return 0;
            case "stage_started":
                return 1;
            case "stage_finished":
                return 2;
            case "document_issued":
                return 3;
            case "ticket_cancelled":
                return 4;
            case "rating_submitted":
                return 5;
            case "heartbeat":
                return 6;
            default:
                return -1;
        }
    }

    private static boolean isService(String s) {
        switch (s) {
            case "driver_license":
            case "license_exchange":
            case "vehicle_registration":
            case "vehicle_reregistration":
            case "plates_issue":
                return true;
            default:
                return false;
        }
    }

    /** A stage that stage_started / stage_finished may name ({@code queue} has no events). */
    private static boolean isEventStage(String s) {
        switch (s) {
            case "intake":
            case "theory_exam":
            case "practical_exam":
            case "vehicle_inspection":
            case "production":
            case "plates":
                return true;
            default:
                return false;
        }
    }

    private static boolean isExam(String s) {
        return "theory_exam".equals(s) || "practical_exam".equals(s);
    }

    private Result check(Result r) {
        for (int f = 0; f < N_FIELDS; f++) {
            if (kinds[f] == STRING) {
                setField(r, f, strings[f]);
            }
        }
        if (kinds[RATING] == INTEGER && inLongRange[RATING]
                && longs[RATING] >= Integer.MIN_VALUE && longs[RATING] <= Integer.MAX_VALUE) {
            r.rating = (int) longs[RATING];
        }

        // 4. missing_field
        for (int f = EVENT_ID; f <= BRANCH_ID; f++) {
            if (kinds[f] == ABSENT) {
                return fail(r, MISSING_FIELD, "missing field \"" + FIELDS[f] + "\"");
            }
        }
        int type = kinds[TYPE] == STRING ? typeIndex(strings[TYPE]) : -1;
        int allowed;
        if (type >= 0) {
            for (int f : REQUIRED[type]) {
                if (kinds[f] == ABSENT) {
                    return fail(r, MISSING_FIELD,
                            "missing field \"" + FIELDS[f] + "\" (required for " + TYPES[type] + ")");
                }
            }
            allowed = ALLOWED[type];
            if (type == STAGE_FINISHED_TYPE && kinds[STAGE] == STRING && isExam(strings[STAGE])) {
                allowed |= bit(RESULT);
            }
        } else {
            allowed = ALL_FIELDS;
        }

        // 5. field_not_allowed: contract fields in field order, then other keys in document order
        for (int f = 0; f < N_FIELDS; f++) {
            if (kinds[f] != ABSENT && (allowed & bit(f)) == 0) {
                return notAllowed(r, FIELDS[f], type);
            }
        }
        if (firstExtraKey != null) {
            return notAllowed(r, firstExtraKey, type);
        }

        // 6. wrong_type
        for (int f = 0; f < N_FIELDS; f++) {
            byte k = kinds[f];
            if (k == ABSENT) {
                continue;
            }
            if (f == RATING || f == SCHEMA) {
                if (k != INTEGER) {
                    return fail(r, WRONG_TYPE,
                            "field \"" + FIELDS[f] + "\" must be an integer, got " + KIND_NAMES[k]);
                }
            } else if (k != STRING) {
                return fail(r, WRONG_TYPE, "field \"" + FIELDS[f] + "\" must be a string, got " + KIND_NAMES[k]);
            }
        }

        // 7. unknown_enum
        if (type < 0) {
            return fail(r, UNKNOWN_ENUM, "unknown type " + q(strings[TYPE]));
        }
        if (kinds[SERVICE] == STRING && !isService(strings[SERVICE])) {
            return fail(r, UNKNOWN_ENUM, "unknown service " + q(strings[SERVICE]));
        }
        if (kinds[STAGE] == STRING && !isEventStage(strings[STAGE])) {
            if ("queue".equals(strings[STAGE])) {
                return fail(r, UNKNOWN_ENUM,
                        "stage \"queue\" has no events of its own (it runs from ticket_issued to the first stage_started)");
            }
            return fail(r, UNKNOWN_ENUM, "unknown stage " + q(strings[STAGE]));
        }
        if (kinds[RESULT] == STRING && !"passed".equals(strings[RESULT]) && !"failed".equals(strings[RESULT])) {
            return fail(r, UNKNOWN_ENUM, "unknown result " + q(strings[RESULT]) + " (passed or failed)");
        }

        // 8. bad_timestamp
        long tsMs = parseTs(strings[TS]);
        if (tsError != null) {
            return fail(r, BAD_TIMESTAMP, "field \"ts\" " + tsError + ": " + q(strings[TS]));
        }
        r.tsMs = tsMs;

        // 9. bad_length
        int[] ids = {EVENT_ID, BRANCH_ID, TICKET_ID, STAFF_ID};
        for (int f : ids) {
            if (kinds[f] != STRING) {
                continue;
            }
            String s = strings[f];
            if (s.isEmpty() || (s.length() > MAX_ID_LENGTH && s.codePointCount(0, s.length()) > MAX_ID_LENGTH)) {
                return fail(r, BAD_LENGTH, "field \"" + FIELDS[f] + "\" must be 1-" + MAX_ID_LENGTH
                        + " characters, got " + s.codePointCount(0, s.length()));
            }
        }
        if (kinds[REASON] == STRING) {
            String s = strings[REASON];
            if (s.length() > MAX_REASON_LENGTH && s.codePointCount(0, s.length()) > MAX_REASON_LENGTH) {
                return fail(r, BAD_LENGTH, "field \"reason\" must be at most " + MAX_REASON_LENGTH
                        + " characters, got " + s.codePointCount(0, s.length()));
            }
        }

        // 10. rating_out_of_range
        if (kinds[RATING] == INTEGER && !(inLongRange[RATING] && longs[RATING] >= 1 && longs[RATING] <= 5)) {
            return fail(r, RATING_OUT_OF_RANGE, "field \"rating\" must be 1-5, got " + number(RATING));
        }

        // 11. bad_schema_version
        if (kinds[SCHEMA] == INTEGER && !(inLongRange[SCHEMA] && longs[SCHEMA] == 1)) {
            return fail(r, BAD_SCHEMA_VERSION, "field \"schema\" must be 1, got " + number(SCHEMA));
        }
        return r;
    }

    private String number(int f) {
        return inLongRange[f] ? Long.toString(longs[f]) : "a number outside the 64-bit range";
    }

    private static void setField(Result r, int f, String v) {
        switch (f) {
            case EVENT_ID:
                r.eventId = v;
                break;
            case TYPE:
                r.type = v;
                break;
            case TS:
                r.ts = v;
                break;
            case BRANCH_ID:
                r.branchId = v;
                break;
            case TICKET_ID:
                r.ticketId = v;
                break;
            case SERVICE:
                r.service = v;
                break;
            case STAGE:
                r.stage = v;
                break;
            case STAFF_ID:
                r.staffId = v;
                break;
            case RESULT:
                r.result = v;
                break;
            case REASON:
                r.reason = v;
                break;
            default:
                break;
        }
    }

    private static Result notAllowed(Result r, String key, int type) {
        if (type < 0) {
            return fail(r, FIELD_NOT_ALLOWED, "field " + q(key) + " is not part of the contract");
        }
        if (type == STAGE_FINISHED_TYPE && "result".equals(key)) {
            return fail(r, FIELD_NOT_ALLOWED,
                    "field \"result\" is allowed only on stage_finished of theory_exam or practical_exam");
        }
        return fail(r, FIELD_NOT_ALLOWED, "field " + q(key) + " is not allowed on " + TYPES[type]);
    }

    private static Result fail(Result r, String code, String detail) {
        r.code = code;
        r.detail = detail;
        return r;
    }

    private static String jsonError(JsonProcessingException e) {
        String msg = e.getOriginalMessage();
        if (msg == null) {
            msg = e.toString();
        }
        String dup = "Duplicate field '";
        if (msg.startsWith(dup) && msg.endsWith("'")) {
            return "duplicate key " + q(msg.substring(dup.length(), msg.length() - 1));
        }
        return "not strict JSON: " + msg;
    }

    // ---------------------------------------------------------------------------------------
    // Unpaired surrogates: only a \\uD800-\\uDFFF escape can produce one from valid UTF-8.

    private static boolean maySpellSurrogate(char[] text, int n) {
        for (int i = 0; i + 3 < n; i++) {
            if (text[i] == '\\' && text[i + 1] == 'u' && (text[i + 2] == 'd' || text[i + 2] == 'D')) {
                char c = text[i + 3];
                if ((c >= '8' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean hasUnpairedSurrogate(char[] text, int n) {
        try (JsonParser p = FACTORY.createParser(text, 0, n)) {
            JsonToken t;
            while ((t = p.nextToken()) != null) {
                if (t == JsonToken.VALUE_STRING || t == JsonToken.FIELD_NAME) {
                    if (unpaired(p.getTextCharacters(), p.getTextOffset(), p.getTextLength())) {
                        return true;
                    }
                }
            }
        } catch (IOException e) {
            return false; // not reached: the document parsed before
        }
        return false;
    }

    private static boolean unpaired(char[] s, int off, int len) {
        int end = off + len;
        for (int i = off; i < end; i++) {
            char c = s[i];
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < end && Character.isLowSurrogate(s[i + 1])) {
                    i++;
                } else {
                    return true;
                }
            } else if (Character.isLowSurrogate(c)) {
                return true;
            }
        }
        return false;
    }

    // ---------------------------------------------------------------------------------------
    // Details

    /** A value quoted for a detail: JSON string with ASCII escapes, cut at 40 code points. */
    static String q(String s) {
        boolean cut = false;
        if (s.length() > 40 && s.codePointCount(0, s.length()) > 40) {
            s = s.substring(0, s.offsetByCodePoints(0, 40));
            cut = true;
        }
        StringBuilder b = new StringBuilder(s.length() + 8);
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"':
                    b.append("\\\"");
                    break;
                case '\\':
                    b.append("\\\\");
                    break;
                case '\n':
                    b.append("\\n");
                    break;
                case '\r':
                    b.append("\\r");
                    break;
                case '\t':
                    b.append("\\t");
                    break;
                case '\b':
                    b.append("\\b");
                    break;
                case '\f':
                    b.append("\\f");
                    break;
                default:
                    if (c < 0x20 || c > 0x7e) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        b.append('"');
        if (cut) {
            b.append('\u2026');
        }
        return b.toString();
    }

    // ---------------------------------------------------------------------------------------
    // Timestamps: RFC 3339 with an explicit offset, years 1970-9999, a real date and time.
    // Same grammar as the regex of schemas/validate.py:
    // ^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$ (ASCII digits)

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private static int digits(String s, int from, int count) {
        int v = 0;
        for (int i = from; i < from + count; i++) {
            v = v * 10 + (s.charAt(i) - '0');
        }
        return v;
    }

    /** UTC epoch milliseconds, or any value with {@link #tsError} set. */
    long parseTs(String s) {
        tsError = "is not RFC 3339 with an explicit offset";
        int n = s.length();
        if (n < 20) {
            return 0;
        }
        for (int i = 0; i < 19; i++) {
            char c = s.charAt(i);
            boolean ok;
            switch (i) {
                case 4:
                case 7:
                    ok = c == '-';
                    break;
                case 10:
                    ok = c == 'T' || c == 't';
                    break;
                case 13:
                case 16:
                    ok = c == ':';
                    break;
                default:
                    ok = isDigit(c);
            }
            if (!ok) {
                return 0;
            }
        }
        int i = 19;
        int ms = 0;
        if (s.charAt(i) == '.') {
            int j = i + 1;
            while (j < n && isDigit(s.charAt(j))) {
                j++;
            }
            int count = j - i - 1;
            if (count < 1 || count > 9) {
                return 0;
            }
            for (int k = 0; k < 3; k++) {
                ms = ms * 10 + (k < count ? s.charAt(i + 1 + k) - '0' : 0);
            }
            i = j;
        }
        if (i >= n) {
            return 0;
        }
        char z = s.charAt(i);
        int sign = 0;
        int oh = 0;
        int om = 0;
        if (z == 'Z' || z == 'z') {
            if (i + 1 != n) {
                return 0;
            }
        } else if (z == '+' || z == '-') {
            if (i + 6 != n || !isDigit(s.charAt(i + 1)) || !isDigit(s.charAt(i + 2)) || s.charAt(i + 3) != ':'
                    || !isDigit(s.charAt(i + 4)) || !isDigit(s.charAt(i + 5))) {
                return 0;
            }
            sign = z == '+' ? 1 : -1;
            oh = digits(s, i + 1, 2);
            om = digits(s, i + 4, 2);
        } else {
            return 0;
        }
        int y = digits(s, 0, 4);
        if (y < 1970) {
            tsError = "has a year outside 1970-9999";
            return 0;
        }
        tsError = "is not a real date and time";
        int mo = digits(s, 5, 2);
        int d = digits(s, 8, 2);
        int h = digits(s, 11, 2);
        int mi = digits(s, 14, 2);
        int sec = digits(s, 17, 2);
        if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 59) {
            return 0;
        }
        boolean leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        if (d > DAYS_IN_MONTH[mo] && !(mo == 2 && d == 29 && leap)) {
            return 0;
        }
        if (oh > 23 || om > 59) {
            return 0;
        }
        tsError = null;
        long offset = sign * (oh * 3600L + om * 60L);
        return (daysFromCivil(y, mo, d) * 86400L + h * 3600L + mi * 60L + sec - offset) * 1000L + ms;
    }

    /** Days since 1970-01-01 of a proleptic Gregorian date (y >= 1). */
    static long daysFromCivil(long y, int m, int d) {
        y -= m <= 2 ? 1 : 0;
        long era = y / 400;
        long yoe = y - era * 400;
        long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
    }
}

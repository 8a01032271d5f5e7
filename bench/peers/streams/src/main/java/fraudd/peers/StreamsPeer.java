package fraudd.peers;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * The Kafka Streams peer of fraudd: the model embedded in a stream processor, as the project's
 * seed did it, written the way the Kafka Streams documentation teaches.
 *
 * <pre>
 *   run --bootstrap HOST:PORT --group G --input T --output T --dead-letter T [--model PATH]
 *   score INPUT.jsonl OUTPUT.jsonl [--model PATH]
 * </pre>
 *
 * <p>{@code run}: one Kafka Streams application (application.id = the group; one stream thread;
 * processing.guarantee=at_least_once, so an input offset is committed only after the results of
 * the records before it are acknowledged) with one processor between a source and two sinks.
 * Each record is parsed with Jackson's tree model, its features (the model's metadata names
 * them, as fraudd reads them) go through ONNX Runtime (1 intra-op and 1 inter-op thread, batch
 * of one record: the Processor API hands over one record at a time, and holding records back to
 * batch them would let a commit pass records not yet forwarded) and the result is written by a
 * Jackson generator: the same fields and headers as fraudd's (docs/OUTPUT.md, "In Kafka"), the
 * input's key, and the time of scoring as the record's timestamp (Streams would otherwise copy
 * the input's). Records that cannot be scored go to the dead-letter topic with the reason
 * headers. The producer's linger.ms is fraudd's 5 (Streams' own default is 100) and offsets are
 * committed every second as fraudd does (Streams' at-least-once default is 30 s).
 *
 * <p>{@code score}: the same scoring over a JSONL file, no Kafka, for bench/peers/check.py.
 */
public final class StreamsPeer {
    private StreamsPeer() {}

    /** A record that cannot be scored: fraudd's reason name and a sentence. */
    static final class Reject extends Exception {
        private static final long serialVersionUID = 1L;
        final String reason;

        Reject(String reason, String detail) {
            super(detail);
            this.reason = reason;
        }

        String errorClass() {
            switch (reason) {
                case "missing_feature": case "null_feature": case "bad_type": case "non_finite": return "feature";
                case "preprocess": return "model";
                default: return "decode";
            }
        }
    }

    /** The model, its metadata and the score; thread safe (OrtSession.run is). */
    static final class Scorer implements AutoCloseable {
        private static final ObjectMapper MAPPER = new ObjectMapper();
        final OrtEnvironment env = OrtEnvironment.getEnvironment();
        final OrtSession session;
        final String inputName;
        final String[] features;
        final double threshold;
        final String version;
        final float[] weights;
        final boolean[] log1p;
        final Map<String, Double> defaults = new HashMap<>();
        final List<String> passthrough;
        final long[] shape;

        Scorer(String path, List<String> passthrough) throws OrtException, IOException {
            OrtSession.SessionOptions so = new OrtSession.SessionOptions();
            so.setIntraOpNumThreads(1);
            so.setInterOpNumThreads(1);
            so.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            session = env.createSession(path, so);
            inputName = session.getInputNames().iterator().next();
            Map<String, String> meta = session.getMetadata().getCustomMetadata();
            JsonNode names = MAPPER.readTree(meta.get("fraudd.features"));
            features = new String[names.size()];
            for (int i = 0; i < features.length; i++) features[i] = names.get(i).asText();
            threshold = Double.parseDouble(meta.get("fraudd.threshold"));
            version = meta.getOrDefault("fraudd.version", "unversioned");
            weights = new float[features.length];
            java.util.Arrays.fill(weights, 1f);
            if (meta.containsKey("fraudd.error_weights")) {
                JsonNode w = MAPPER.readTree(meta.get("fraudd.error_weights"));
                for (int i = 0; i < weights.length; i++) weights[i] = (float) w.get(i).asDouble();
            }
            log1p = new boolean[features.length];
            Set<String> l = new HashSet<>();
            if (meta.containsKey("fraudd.log1p")) MAPPER.readTree(meta.get("fraudd.log1p")).forEach(n -> l.add(n.asText()));
            for (int i = 0; i < features.length; i++) log1p[i] = l.contains(features[i]);
            if (meta.containsKey("fraudd.defaults")) {
                for (Map.Entry<String, JsonNode> e : MAPPER.readTree(meta.get("fraudd.defaults")).properties()) {
                    defaults.put(e.getKey(), e.getValue().asDouble());
                }
            }
            this.passthrough = passthrough;
            shape = new long[] {1, features.length};
        }

        private float feature(JsonNode rec, int i) throws Reject {
            String name = features[i];
            JsonNode v = rec;
            for (String part : name.split("\\.", -1)) {
                v = v.isObject() ? v.get(part) : null;
                if (v == null) {
                    if (defaults.containsKey(name)) return defaults.get(name).floatValue();
                    throw new Reject("missing_feature", "feature \"" + name + "\" is missing; expected a number");
                }
            }
            float f;
            if (v.isNull()) {
                if (defaults.containsKey(name)) return defaults.get(name).floatValue();
                throw new Reject("null_feature", "feature \"" + name + "\" is null; expected a number");
            } else if (v.isNumber()) {
                f = v.floatValue();
            } else if (v.isTextual()) {
                try {
                    f = Float.parseFloat(v.textValue());
                } catch (NumberFormatException e) {
                    throw new Reject("bad_type", "feature \"" + name + "\" is not a number");
                }
            } else {
                throw new Reject("bad_type", "feature \"" + name + "\" is not a number");
            }
            if (!Float.isFinite(f)) throw new Reject("non_finite", "feature \"" + name + "\" is not finite as a float32");
            return f;
        }

        /** One record's value -> its result's JSON bytes; Reject if it cannot be scored. */
        byte[] score(byte[] value) throws Reject {
            JsonNode rec;
            try {
                rec = MAPPER.readTree(value);
            } catch (IOException e) {
                throw new Reject("not_json", "not JSON: " + e.getMessage());
            }
            if (rec == null || !rec.isObject()) throw new Reject("not_object", "the record is not a JSON object");
            final int n = features.length;
            float[] raw = new float[n], x = new float[n];
            for (int i = 0; i < n; i++) {
                raw[i] = feature(rec, i);
                if (log1p[i]) {
                    if (raw[i] <= -1f) throw new Reject("preprocess", "log1p of a value <= -1 (feature \"" + features[i] + "\")");
                    x[i] = (float) Math.log1p(raw[i]);
                } else {
                    x[i] = raw[i];
                }
            }
            float[] y;
            try (OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape);
                 OrtSession.Result r = session.run(Map.of(inputName, t))) {
                y = ((float[][]) r.get(0).getValue())[0];
            } catch (OrtException e) {
                throw new IllegalStateException("ONNX Runtime failed", e);
            }
            // fraudd's score: terms in double from the float32 input and output; the three
            // largest terms, ties keeping the earlier feature
            double sum = 0;
            float e0 = -1, e1 = -1, e2 = -1;
            int i0 = 0, i1 = 0, i2 = 0;
            for (int i = 0; i < n; i++) {
                double d = ((double) y[i] - (double) x[i]) * (double) weights[i];
                sum += d * d;
                float ef = (float) (d * d);
                if (ef <= e2) continue;
                if (ef > e1) {
                    e2 = e1; i2 = i1;
                    if (ef > e0) { e1 = e0; i1 = i0; e0 = ef; i0 = i; } else { e1 = ef; i1 = i; }
                } else {
                    e2 = ef; i2 = i;
                }
            }
            double score = sum / n;
            ByteArrayOutputStream out = new ByteArrayOutputStream(512);
            try (JsonGenerator g = MAPPER.getFactory().createGenerator((OutputStream) out)) {
                g.writeStartObject();
                for (String p : passthrough) {
                    JsonNode v = rec.get(p);
                    if (v != null) {
                        g.writeFieldName(p);
                        g.writeTree(v);
                    }
                }
                g.writeNumberField("score", score);
                g.writeNumberField("threshold", threshold);
                g.writeBooleanField("is_fraud", score > threshold);
                g.writeStringField("model_version", version);
                g.writeArrayFieldStart("top_features");
                int[] idx = {i0, i1, i2};
                float[] err = {e0, e1, e2};
                for (int k = 0; k < Math.min(3, n); k++) {
                    g.writeStartObject();
                    g.writeStringField("name", features[idx[k]]);
                    g.writeNumberField("value", raw[idx[k]]);
                    g.writeNumberField("error", err[k]);
                    g.writeEndObject();
                }
                g.writeEndArray();
                g.writeEndObject();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return out.toByteArray();
        }

        @Override
        public void close() throws OrtException {
            session.close();
        }
    }

    /** Scores each record; results to the "results" sink, rejects to "dead-letters". */
    static final class ScoreProcessor implements Processor<byte[], byte[], byte[], byte[]> {
        private final Scorer scorer;
        private final byte[] version;
        private ProcessorContext<byte[], byte[]> ctx;

        ScoreProcessor(Scorer scorer) {
            this.scorer = scorer;
            this.version = scorer.version.getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public void init(ProcessorContext<byte[], byte[]> context) {
            this.ctx = context;
        }

        @Override
        public void process(Record<byte[], byte[]> rec) {
            RecordMetadata md = ctx.recordMetadata().orElseThrow();
            byte[] topic = md.topic().getBytes(StandardCharsets.UTF_8);
            byte[] part = Integer.toString(md.partition()).getBytes(StandardCharsets.UTF_8);
            byte[] off = Long.toString(md.offset()).getBytes(StandardCharsets.UTF_8);
            long now = System.currentTimeMillis();
            try {
                byte[] result = scorer.score(rec.value());
                Headers h = new RecordHeaders();
                h.add("fraudd.model.version", version);
                h.add("fraudd.source.topic", topic);
                h.add("fraudd.source.partition", part);
                h.add("fraudd.source.offset", off);
                ctx.forward(new Record<>(rec.key(), result, now, h), "results");
            } catch (Reject r) {
                Headers h = new RecordHeaders();
                for (Header x : rec.headers()) h.add(x);
                h.add("fraudd.source.topic", topic);
                h.add("fraudd.source.partition", part);
                h.add("fraudd.source.offset", off);
                h.add("fraudd.model.version", version);
                h.add("fraudd.error.class", r.errorClass().getBytes(StandardCharsets.UTF_8));
                h.add("fraudd.error.reason", r.reason.getBytes(StandardCharsets.UTF_8));
                h.add("fraudd.error.message", r.getMessage().getBytes(StandardCharsets.UTF_8));
                ctx.forward(new Record<>(rec.key(), rec.value(), now, h), "dead-letters");
            }
        }
    }

    private static Map<String, String> options(String[] args, int from, List<String> positional) {
        Map<String, String> o = new HashMap<>();
        for (int i = from; i < args.length; i++) {
            if (args[i].startsWith("--")) {
                if (i + 1 >= args.length) throw new IllegalArgumentException(args[i] + " needs a value");
                o.put(args[i].substring(2), args[++i]);
            } else {
                positional.add(args[i]);
            }
        }
        return o;
    }

    private static String need(Map<String, String> o, String k) {
        String v = o.get(k);
        if (v == null) throw new IllegalArgumentException("--" + k + " is required");
        return v;
    }

    private static void log(String event) {
        System.err.println("{\"ts\":" + System.currentTimeMillis() / 1000.0 + ",\"event\":\"" + event + "\"}");
        System.err.flush();
    }

    static int score(Map<String, String> o, List<String> pos) throws Exception {
        if (pos.size() != 2) throw new IllegalArgumentException("score INPUT.jsonl OUTPUT.jsonl");
        List<String> lines = Files.readAllLines(Path.of(pos.get(0)), StandardCharsets.UTF_8);
        try (Scorer sc = new Scorer(o.getOrDefault("model", "models/default/fraudd-default.onnx"),
                                    List.of(o.getOrDefault("passthrough", "id").split(",")));
             OutputStream out = Files.newOutputStream(Path.of(pos.get(1)))) {
            for (int i = 0; i < lines.size(); i++) {
                try {
                    out.write(sc.score(lines.get(i).getBytes(StandardCharsets.UTF_8)));
                    out.write('\n');
                } catch (Reject r) {
                    System.err.println("line " + (i + 1) + ": " + r.reason + ": " + r.getMessage());
                }
            }
        }
        return 0;
    }

    static int run(Map<String, String> o) throws Exception {
        Scorer sc = new Scorer(o.getOrDefault("model", "models/default/fraudd-default.onnx"),
                               List.of(o.getOrDefault("passthrough", "id").split(",")));
        Topology t = new Topology();
        t.addSource("source", new ByteArrayDeserializer(), new ByteArrayDeserializer(), need(o, "input"));
        t.addProcessor("score", () -> new ScoreProcessor(sc), "source");
        t.addSink("results", need(o, "output"), new ByteArraySerializer(), new ByteArraySerializer(), "score");
        t.addSink("dead-letters", need(o, "dead-letter"), new ByteArraySerializer(), new ByteArraySerializer(), "score");

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, need(o, "group"));
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, need(o, "bootstrap"));
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000);
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("streams-peer").toString());
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.MAX_REQUEST_SIZE_CONFIG), 8388608);

        KafkaStreams streams = new KafkaStreams(t, p);
        CountDownLatch done = new CountDownLatch(1);
        final int[] rc = {0};
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING) log("assigned");
            if (now == KafkaStreams.State.ERROR) { rc[0] = 1; done.countDown(); }
            if (now == KafkaStreams.State.NOT_RUNNING) done.countDown();
        });
        streams.setUncaughtExceptionHandler(e -> {
            e.printStackTrace();
            rc[0] = 1;
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        // SIGTERM: close commits what was acknowledged and leaves the group; then exit 0 (or 1
        // if the close timed out) rather than the JVM's 143 for a signal
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            boolean clean = streams.close(Duration.ofSeconds(30));
            log("stopped");
            Runtime.getRuntime().halt(clean && rc[0] == 0 ? 0 : 1);
        }));
        streams.start();
        done.await();
        return rc[0];
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1 || !(args[0].equals("run") || args[0].equals("score"))) {
            System.err.println("usage: StreamsPeer run --bootstrap B --group G --input T --output T --dead-letter T [--model M]\n"
                               + "       StreamsPeer score INPUT.jsonl OUTPUT.jsonl [--model M]");
            System.exit(2);
        }
        List<String> pos = new ArrayList<>();
        Map<String, String> o = options(args, 1, pos);
        System.exit(args[0].equals("score") ? score(o, pos) : run(o));
    }
}

package sitcen.embedded;

import org.apache.flink.api.common.JobID;
import org.apache.flink.client.ClientUtils;
import org.apache.flink.client.deployment.executors.PipelineExecutorUtils;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.runtime.minicluster.MiniClusterJobClient;
import org.apache.flink.runtime.minicluster.RpcServiceSharing;
import org.apache.flink.streaming.api.graph.StreamGraph;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pemja.core.PythonInterpreter;
import pemja.core.PythonInterpreterConfig;

import java.util.concurrent.CompletableFuture;

/**
 * Flink's local mini-cluster, started before the job's graph exists, and the job's Python runtime
 * imported into the TaskManager's interpreter before its first record.
 *
 * <p>Flink's local executor starts a mini-cluster only once a job is submitted (RPC services,
 * dispatcher, resource manager and TaskManager: about a second and a half here), and a thread-mode
 * Python operator then starts CPython inside the TaskManager and imports PyFlink's runtime (Apache
 * Beam, pandas, …) before it takes a record (another one or two). Neither depends on the graph, only
 * on the configuration, so both start here while the client is still importing and wiring the job.
 * {@link #submit} then does what Flink's {@code LocalExecutor} and {@code PerJobMiniClusterFactory}
 * do with a started cluster: the same stream graph (jars, class path, savepoint settings), the same
 * job client, which shuts the cluster down when the job ends.
 *
 * <p>Thread mode runs every Python operator of the JVM in one shared interpreter (PemJa's
 * multi-thread mode), so modules imported by an interpreter made here are the ones the operator
 * finds in {@code sys.modules}. PemJa binds an interpreter to the thread that made it: it is made,
 * used and closed on one thread.
 */
public final class LocalCluster {

    private static final Logger LOG = LoggerFactory.getLogger(LocalCluster.class);

    private final CompletableFuture<MiniCluster> cluster = new CompletableFuture<>();
    private final int slots;

    private LocalCluster(int slots) {
        this.slots = slots;
    }

    /** Starts a mini-cluster in the background, with {@code slots} slots per TaskManager unless the configuration says. */
    public static LocalCluster start(Configuration configuration, int slots) {
        Configuration conf = new Configuration(configuration);
        if (!conf.contains(RestOptions.BIND_PORT)) {
            conf.set(RestOptions.BIND_PORT, "0");
        }
        int managers = conf.get(TaskManagerOptions.MINI_CLUSTER_NUM_TASK_MANAGERS);
        int perManager = conf.getOptional(TaskManagerOptions.NUM_TASK_SLOTS).orElse(slots);
        LocalCluster local = new LocalCluster(managers * perManager);
        MiniClusterConfiguration clusterConf =
                new MiniClusterConfiguration.Builder()
                        .setConfiguration(conf)
                        .setNumTaskManagers(managers)
                        .setRpcServiceSharing(RpcServiceSharing.SHARED)
                        .setNumSlotsPerTaskManager(perManager)
                        .build();
        Thread starter =
                new Thread(
                        () -> {
                            MiniCluster mini = new MiniCluster(clusterConf);
                            try {
                                mini.start();
                                local.cluster.complete(mini);
                            } catch (Throwable t) {
                                mini.closeAsync();
                                local.cluster.completeExceptionally(t);
                            }
                        },
                        "sitcen-mini-cluster-start");
        starter.setDaemon(true);
        starter.start();
        return local;
    }

    /**
     * Runs {@code statements} (the imports a Python operator needs) in the thread-mode Python
     * interpreter of this JVM, in the background; a failure is only logged, as the operator then
     * imports what it needs itself.
     */
    public static void preparePython(String pythonExec, String pythonPath, String statements) {
        Thread importer =
                new Thread(
                        () -> {
                            PythonInterpreterConfig config =
                                    PythonInterpreterConfig.newBuilder()
                                            .setPythonExec(pythonExec)
                                            .addPythonPaths(pythonPath)
                                            .setExcType(PythonInterpreterConfig.ExecType.MULTI_THREAD)
                                            .build();
                            try (PythonInterpreter interpreter = new PythonInterpreter(config)) {
                                interpreter.exec(statements);
                            } catch (Throwable t) {
                                LOG.warn("Preparing the Python interpreter ahead of the job failed", t);
                            }
                        },
                        "sitcen-python-import");
        importer.setDaemon(true);
        importer.start();
    }

    /** Whether the cluster has the slots {@code graph} needs (else: close it, submit the usual way). */
    public boolean fits(StreamGraph graph) {
        return graph.getMaximumParallelism() <= slots;
    }

    /**
     * Submits {@code graph} with the environment's {@code configuration}, once the cluster has
     * started (its start's failure is rethrown); the returned client shuts the cluster down when
     * the job ends.
     */
    public JobClient submit(StreamGraph graph, ReadableConfig configuration) throws Exception {
        if (!fits(graph)) {
            throw new IllegalArgumentException(
                    "the job needs " + graph.getMaximumParallelism() + " slots, the cluster has " + slots);
        }
        MiniCluster mini = cluster.get();
        Configuration effective = new Configuration();
        effective.addAll(Configuration.fromMap(configuration.toMap()));
        StreamGraph plan = PipelineExecutorUtils.getStreamGraph(graph, effective);
        plan.serializeUserDefinedInstances();
        ClassLoader loader = LocalCluster.class.getClassLoader();
        JobID id = mini.submitJob(plan).get().getJobID();
        ClientUtils.waitUntilJobInitializationFinished(
                () -> mini.getJobStatus(id).get(), () -> mini.requestJobResult(id).get(), loader);
        return new MiniClusterJobClient(
                id, mini, loader, MiniClusterJobClient.JobFinalizationBehavior.SHUTDOWN_CLUSTER);
    }

    /** Shuts the cluster down (when no job was submitted to it). */
    public void close() {
        cluster.thenAccept(MiniCluster::closeAsync);
    }
}

package sitcen.embedded;

import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.classloading.SubmoduleClassLoader;
import org.apache.flink.runtime.rpc.RpcSystem;
import org.apache.flink.runtime.rpc.RpcSystemLoader;
import org.apache.flink.runtime.rpc.exceptions.RpcLoaderException;

import java.io.File;
import java.net.URL;
import java.nio.file.Path;
import java.util.ServiceLoader;

/**
 * Flink's Pekko RPC system from a jar extracted once (beside the job's jar, at setup), ahead of
 * Flink's own loader.
 *
 * <p>Flink's loader copies the 24 MB {@code flink-rpc-akka.jar} out of {@code flink-dist} into a
 * new temporary file every time a cluster starts — a third of a second of every embedded run — and
 * the classes it then loads come from a different path each time, so the JVM's class-data archive
 * can never hold them. This loader reads the same jar from one fixed path, through the same kind of
 * isolating class loader; without that file it declines and Flink's loader runs as usual.
 */
public final class ExtractedRpcSystemLoader implements RpcSystemLoader {

    /** The jar's file name beside the job's jar. */
    public static final String JAR = "flink-rpc-akka.jar";

    @Override
    public int getLoadPriority() {
        return -1; // before Flink's loader (0)
    }

    @Override
    public RpcSystem loadRpcSystem(Configuration config) {
        try {
            Path own = Path.of(ExtractedRpcSystemLoader.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            File jar = own.resolveSibling(JAR).toFile();
            if (!jar.isFile()) {
                throw new RpcLoaderException("no extracted " + JAR + " beside " + own);
            }
            SubmoduleClassLoader loader =
                    new SubmoduleClassLoader(new URL[] {jar.toURI().toURL()}, RpcSystem.class.getClassLoader());
            return ServiceLoader.load(RpcSystem.class, loader).iterator().next();
        } catch (RpcLoaderException e) {
            throw e;
        } catch (Exception e) {
            throw new RpcLoaderException("could not load the RPC system from an extracted " + JAR, e);
        }
    }
}

package faultline;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

/**
 * Runs a Neo4j 5 community engine with only its Bolt connector open, on 127.0.0.1.
 *
 * <p>Why: faultline's tests and benchmarks need a real Neo4j, and CI reaches Maven Central but no tarball host.
 * Usage: {@code java -cp classes:lib/* faultline.Neo4jLauncher PORT HOME_DIR [PAGECACHE]}. Auth is disabled
 * (the server only listens on loopback and lives for one test session). Prints
 * {@code FAULTLINE-NEO4J READY bolt://127.0.0.1:PORT} once the default database is available, and shuts the
 * engine down cleanly (checkpoint, release the store lock) on SIGTERM/SIGINT so the same home can be reopened.
 */
public final class Neo4jLauncher {
    private Neo4jLauncher() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Neo4jLauncher PORT HOME_DIR [PAGECACHE, e.g. 512m]");
            System.exit(64);
        }
        int port = Integer.parseInt(args[0]);
        Path home = Path.of(args[1]).toAbsolutePath();
        String pagecache = args.length > 2 ? args[2] : "256m";

        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.pagecache_memory, parseBytes(pagecache))
                // a test server is stopped and started several times a run: do not linger ~10 s on Bolt shutdown
                .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofSeconds(1))
                .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofSeconds(1))
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("FAULTLINE-NEO4J STOPPING");
            System.out.flush();
            dbms.shutdown();
            stopped.countDown();
        }, "neo4j-shutdown"));

        GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!db.isAvailable(TimeUnit.MINUTES.toMillis(2))) {
            System.err.println("FAULTLINE-NEO4J FAILED default database did not become available");
            System.exit(1);
        }
        System.out.println("FAULTLINE-NEO4J READY bolt://127.0.0.1:" + port);
        System.out.flush();
        stopped.await();
    }

    private static long parseBytes(String text) {
        String t = text.trim().toLowerCase();
        long unit = 1;
        char last = t.charAt(t.length() - 1);
        if (last == 'k' || last == 'm' || last == 'g') {
            unit = last == 'k' ? 1L << 10 : last == 'm' ? 1L << 20 : 1L << 30;
            t = t.substring(0, t.length() - 1);
        }
        return Long.parseLong(t) * unit;
    }
}

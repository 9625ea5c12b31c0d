// DynamoDB Local, listening on one address only (default 127.0.0.1).
//
// DynamoDB Local has no bind option: its DynamoDBProxyServer builds a Jetty Server(port),
// which listens on every interface. This launcher builds the same server from the same
// command line (ServerRunner.createServerFromCommandLineArgs), sets the host of its Jetty
// connector before starting it, and starts it. Address: -Ddynamodb.host=127.0.0.1.
// Compiled by scripts/bootstrap.sh into .tools/dynamodb/loopback/ when javac exists.
import com.amazonaws.services.dynamodbv2.local.main.ServerRunner;
import com.amazonaws.services.dynamodbv2.local.server.DynamoDBProxyServer;
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

public final class LoopbackDynamoDBLocal {
    private LoopbackDynamoDBLocal() {}

    public static void main(String[] args) throws Exception {
        String host = System.getProperty("dynamodb.host", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        for (Connector connector : server.getConnectors()) {
            ((ServerConnector) connector).setHost(host);
        }
        proxy.start();  // Jetty's threads keep the JVM running until it is terminated
    }
}

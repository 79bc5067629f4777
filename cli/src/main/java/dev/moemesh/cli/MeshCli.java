package dev.moemesh.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code mesh} command line: generate, make-model, bench, demo, up, expert-ping, load, api-key. */
@Command(name = "mesh", mixinStandardHelpOptions = true, version = "mesh 0.1.0",
        description = "An inference mesh for DeepSeek-style Mixture-of-Experts models.",
        subcommands = {GenerateCommand.class, MakeModelCommand.class, BenchCommand.class, DemoCommand.class,
                UpCommand.class, ExpertPingCommand.class, LoadCommand.class, ChaosCommand.class, ApiKeyCommand.class,
                CertsCommand.class})
public final class MeshCli implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit code; errors are one line on stderr, never a stack trace. */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new MeshCli());
        // `mesh` takes no arguments of its own, so a first word that is not an option names a command; refused
        // here because picocli would print the top-level help and succeed when --help follows an unknown command
        if (args.length > 0 && !args[0].startsWith("-") && !cli.getSubcommands().containsKey(args[0])) {
            System.err.println("error: unknown command '" + args[0] + "' (commands: "
                    + String.join(", ", cli.getSubcommands().keySet()) + "; see: mesh --help)");
            return 2;
        }
        cli.setParameterExceptionHandler((e, a) -> {
            System.err.println("error: " + e.getMessage() + " (see: " + commandPath(e.getCommandLine()) + " --help)");
            return 2;
        });
        cli.setExecutionExceptionHandler((e, c, parsed) -> {
            System.err.println("error: " + describe(e));
            if (Boolean.getBoolean("moemesh.trace")) e.printStackTrace();
            return 1;
        });
        return cli.execute(args);
    }

    private static String commandPath(CommandLine c) {
        return c.getCommandName().equals("mesh") ? "mesh" : "mesh " + c.getCommandName();
    }

    static String describe(Throwable e) {
        String message = e.getMessage();
        if (message == null || message.isBlank()) message = e.getClass().getSimpleName();
        return message.replace('\n', ' ');
    }
}

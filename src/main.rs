//! The `zenko-signing-proxy` binary: parse the command line, set up logging,
//! run the subcommand, map failures to an exit code (64 for usage and
//! configuration errors, 1 for the rest) and one line on stderr.
//!
//! Try it (builds the embedded demo gateway in):
//!
//! ```text
//! cargo run --features embedded-upstream -- serve
//! curl -X PUT http://127.0.0.1:7070/demo
//! ```

// The binary is where output to the user belongs.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use clap::Parser;
use zenko_signing_proxy::cli::{Cli, Command, ServeArgs};
use zenko_signing_proxy::command;
use zenko_signing_proxy::config::Config;
use zenko_signing_proxy::credentials::ProcessEnvironment;
use zenko_signing_proxy::error::chain;
use zenko_signing_proxy::reload::ReloadSource;
use zenko_signing_proxy::serve::Service;
use zenko_signing_proxy::server;
use zenko_signing_proxy::{demo, logging};

/// Exit code for usage and configuration errors (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let logging = match &cli.command {
        Command::Serve(args) => logging::init(Some((args.log_format, args.log_level.as_deref()))),
        _ => logging::init(None),
    };
    let _flush_logs_at_exit = match logging {
        Ok(guard) => guard,
        Err(message) => return fail(EXIT_CONFIG, &message),
    };

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(1, &format!("cannot start the runtime: {error}")),
    };
    let outcome = match cli.command {
        Command::Serve(args) => return runtime.block_on(serve(args)),
        Command::Sign(args) => command::sign::run(&args),
        Command::Presign(args) => command::presign::run(&args),
        Command::Request(args) => runtime.block_on(command::request::run(&args)),
        Command::CheckConfig(args) => command::check_config::run(&args),
        Command::Probe(args) => runtime.block_on(command::probe::run(&args)),
    };
    match outcome {
        Ok(outcome) => {
            print!("{}", outcome.stdout);
            eprint!("{}", outcome.stderr);
            ExitCode::from(outcome.exit_code)
        }
        Err(error) => fail(error.exit_code(), &chain(&error)),
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let config = match Config::load(args.config.credentials.config.as_deref(), &args.overrides()) {
        Ok(config) => config,
        Err(error) => return fail(EXIT_CONFIG, &chain(&error)),
    };
    let reload = ReloadSource {
        config_path: args.config.credentials.config.clone(),
        overrides: args.overrides(),
    };
    let service = match Service::bind(config, &ProcessEnvironment).await {
        Ok(service) => service.reload_from(reload),
        Err(error) if error.is_config_error() => return fail(EXIT_CONFIG, &chain(&error)),
        Err(error) => return fail(1, &chain(&error)),
    };
    if let Some(demo) = service.demo() {
        let banner = demo::try_it(
            service.listen_addr(),
            demo.data_dir(),
            service.client_needs(),
        );
        println!("{banner}");
    }
    service.run(server::shutdown_signal()).await;
    ExitCode::SUCCESS
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("zenko-signing-proxy: {message}");
    ExitCode::from(code)
}

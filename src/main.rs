use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = guildgate::cli::Cli::parse();
    match guildgate::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `downhill-doctor`: run it first on a new GPU or driver. Lists every adapter, checks every
//! op and optimizer against the CPU backend, measures each device and recommends one per
//! model size. The logic is [`downhill::doctor`]; `--help` shows the flags and exit codes.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", downhill::doctor::USAGE);
        return;
    }
    std::process::exit(downhill::doctor::main(args));
}

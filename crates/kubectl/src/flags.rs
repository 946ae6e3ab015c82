//! The command line as kubectl's (cobra and pflag) reads it, where clap differs: switches take
//! an optional value (`--show-labels=true`, `--validate=false`), and parse errors are worded
//! as cobra words them (`Error: unknown flag: --bogus` + `See 'kubectl get --help' for
//! usage.`), so that scripts written for kubectl read the same answers.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, Command};

/// The subcommands `argv` (without the program name) names, from the root: `["rollout",
/// "status"]`.
fn command_path<'a>(root: &'a Command, argv: &[OsString]) -> Vec<&'a Command> {
    let mut path = vec![root];
    for word in argv.iter().filter_map(|w| w.to_str()) {
        if word == "--" {
            break;
        }
        if word.starts_with('-') {
            continue;
        }
        let current = path[path.len() - 1];
        if !current.has_subcommands() {
            break;
        }
        if let Some(sub) = current.find_subcommand(word) {
            path.push(sub);
        }
    }
    path
}

/// `--switch=true` becomes `--switch`, `--switch=false` goes; anything else stays. A value
/// that is no boolean is the error pflag reports.
pub fn normalize(root: &Command, argv: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let path = command_path(root, &argv);
    let is_switch = |name: &str| {
        path.iter().any(|c| {
            c.get_arguments()
                .any(|a| a.get_long() == Some(name) && matches!(a.get_action(), ArgAction::SetTrue))
        })
    };
    let mut out = Vec::with_capacity(argv.len());
    let mut rest = false;
    for word in argv {
        let text = word.to_str().unwrap_or_default();
        if rest || text == "--" {
            rest = true;
            out.push(word);
            continue;
        }
        let Some((name, value)) = text.strip_prefix("--").and_then(|t| t.split_once('=')) else {
            out.push(word);
            continue;
        };
        if !is_switch(name) {
            out.push(word);
            continue;
        }
        match parse_bool(value) {
            Some(true) => out.push(OsString::from(format!("--{name}"))),
            Some(false) => {}
            None => {
                return Err(with_usage(
                    &path,
                    &format!(
                        "invalid argument {value:?} for \"--{name}\" flag: strconv.ParseBool: parsing {value:?}: invalid syntax"
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn with_usage(path: &[&Command], message: &str) -> String {
    let names: Vec<&str> = path.iter().map(|c| c.get_name()).collect();
    format!(
        "Error: {message}\nSee '{} --help' for usage.",
        names.join(" ")
    )
}

fn context(e: &clap::Error, kind: ContextKind) -> Option<&str> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s),
        _ => None,
    }
}

/// A clap parse error as cobra would have written it, when it is one cobra knows.
pub fn cobra_error(root: &Command, argv: &[OsString], e: &clap::Error) -> Option<String> {
    let path = command_path(root, argv);
    let arg_named = |shown: &str| {
        // `--replicas <REPLICAS>` or `-r`: the argument clap reported.
        let flag = shown.split(' ').next().unwrap_or_default();
        path.iter().flat_map(|c| c.get_arguments()).find(|a| {
            flag.strip_prefix("--")
                .is_some_and(|l| a.get_long() == Some(l))
                || flag
                    .strip_prefix('-')
                    .and_then(|s| s.chars().next())
                    .is_some_and(|s| flag.len() == 2 && a.get_short() == Some(s))
        })
    };
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = context(e, ContextKind::InvalidArg)?;
            if let Some(long) = arg.strip_prefix("--") {
                let name = long.split('=').next().unwrap_or_default();
                Some(with_usage(&path, &format!("unknown flag: --{name}")))
            } else if let Some(short) = arg.strip_prefix('-') {
                let c = short.chars().next()?;
                Some(with_usage(
                    &path,
                    &format!("unknown shorthand flag: '{c}' in {arg}"),
                ))
            } else {
                None
            }
        }
        ErrorKind::InvalidSubcommand => {
            // kubectl first looks for a plugin named by the leading words, which a flag may
            // not precede.
            if let Some(flag) = argv
                .first()
                .and_then(|w| w.to_str())
                .filter(|w| w.starts_with('-'))
            {
                return Some(format!(
                    "Error: flags cannot be placed before plugin name: {flag}"
                ));
            }
            let word = context(e, ContextKind::InvalidSubcommand)?;
            let mut message = format!("Error: unknown command {word:?} for \"kubectl\"");
            if let Some(ContextValue::Strings(s)) = e.get(ContextKind::SuggestedSubcommand) {
                message.push_str("\n\nDid you mean this?\n");
                for s in s {
                    message.push_str(&format!("\t{s}\n"));
                }
            }
            Some(message)
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let shown = context(e, ContextKind::InvalidArg)?;
            let arg = arg_named(shown)?;
            let value = context(e, ContextKind::InvalidValue).unwrap_or_default();
            let long = arg.get_long()?;
            if value.is_empty() && e.kind() == ErrorKind::InvalidValue {
                // Which spelling the user wrote: `-o` or `--output`.
                let short_used = arg.get_short().is_some_and(|s| {
                    argv.iter()
                        .any(|w| w.to_str() == Some(format!("-{s}").as_str()))
                });
                let flag = match arg.get_short().filter(|_| short_used) {
                    Some(s) => format!("'{s}' in -{s}"),
                    None => format!("--{long}"),
                };
                return Some(with_usage(
                    &path,
                    &format!("flag needs an argument: {flag}"),
                ));
            }
            let names = match arg.get_short() {
                Some(s) => format!("-{s}, --{long}"),
                None => format!("--{long}"),
            };
            let cause = e.to_string();
            let reason =
                if cause.contains("invalid digit") || cause.contains("cannot parse integer") {
                    format!("strconv.ParseInt: parsing {value:?}: invalid syntax")
                } else if cause.contains("too large") || cause.contains("too small") {
                    format!("strconv.ParseInt: parsing {value:?}: value out of range")
                } else {
                    return None;
                };
            Some(with_usage(
                &path,
                &format!("invalid argument {value:?} for {names:?} flag: {reason}"),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Arg;

    fn root() -> Command {
        Command::new("kubectl")
            .arg(
                Arg::new("namespace")
                    .short('n')
                    .long("namespace")
                    .global(true),
            )
            .subcommand(
                Command::new("get")
                    .arg(
                        Arg::new("show-labels")
                            .long("show-labels")
                            .action(ArgAction::SetTrue),
                    )
                    .arg(Arg::new("output").short('o').long("output"))
                    .arg(Arg::new("words").num_args(0..)),
            )
            .subcommand(
                Command::new("scale").arg(
                    Arg::new("replicas")
                        .short('r')
                        .long("replicas")
                        .value_parser(clap::value_parser!(i32)),
                ),
            )
            .subcommand(Command::new("rollout").subcommand(Command::new("status")))
            .subcommand(Command::new("logs"))
    }

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    fn error(words: &[&str]) -> Option<String> {
        let root = root();
        let argv = std::iter::once("kubectl").chain(words.iter().copied());
        let e = root.clone().try_get_matches_from(argv).unwrap_err();
        cobra_error(&root, &args(words), &e)
    }

    #[test]
    fn switches_take_go_booleans() {
        let root = root();
        let out = normalize(&root, args(&["get", "pods", "--show-labels=true"])).unwrap();
        assert_eq!(out, args(&["get", "pods", "--show-labels"]));
        let out = normalize(&root, args(&["get", "pods", "--show-labels=F"])).unwrap();
        assert_eq!(out, args(&["get", "pods"]));
        assert_eq!(
            normalize(&root, args(&["get", "--show-labels=maybe"])).unwrap_err(),
            "Error: invalid argument \"maybe\" for \"--show-labels\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax\nSee 'kubectl get --help' for usage."
        );
        // Values of other flags, and anything after `--`, are left alone.
        let kept = args(&["get", "-o=json", "--", "--show-labels=x"]);
        assert_eq!(normalize(&root, kept.clone()).unwrap(), kept);
    }

    #[test]
    fn parse_errors_read_as_cobras() {
        assert_eq!(
            error(&["get", "pods", "--bogus"]).unwrap(),
            "Error: unknown flag: --bogus\nSee 'kubectl get --help' for usage."
        );
        assert_eq!(
            error(&["rollout", "status", "-Z"]).unwrap(),
            "Error: unknown shorthand flag: 'Z' in -Z\nSee 'kubectl rollout status --help' for usage."
        );
        assert_eq!(
            error(&["get", "pods", "-o"]).unwrap(),
            "Error: flag needs an argument: 'o' in -o\nSee 'kubectl get --help' for usage."
        );
        assert_eq!(
            error(&["scale", "--replicas=x"]).unwrap(),
            "Error: invalid argument \"x\" for \"-r, --replicas\" flag: strconv.ParseInt: parsing \"x\": invalid syntax\nSee 'kubectl scale --help' for usage."
        );
        assert_eq!(
            error(&["zzzzzz"]).unwrap(),
            "Error: unknown command \"zzzzzz\" for \"kubectl\""
        );
        assert!(
            error(&["bogus"])
                .unwrap()
                .contains("Did you mean this?\n\tlogs\n")
        );
        assert_eq!(
            error(&["-n", "x", "zzzzzz"]).unwrap(),
            "Error: flags cannot be placed before plugin name: -n"
        );
    }
}

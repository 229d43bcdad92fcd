//! The 1,000,000-user child of `decide-compare --per-side-binaries`: one side alone in the
//! binary (the optimizely-fx core engine), as in a service that links one SDK.

fn main() -> std::process::ExitCode {
    decide_compare::child::one_side_main::<decide_compare::sides::FxCoreOnly>()
}

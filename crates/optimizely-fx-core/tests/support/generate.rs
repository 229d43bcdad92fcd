//! Generates realistic synthetic datafiles of any size (shared by tests and benchmarks).
//!
//! Shape per flag: four variables (string, integer, boolean, json), a rollout with two
//! targeted delivery rules (typed audiences) plus "Everyone Else", and for the first
//! `experiments` flags an A/B experiment rule with two variations overriding the variables.

use std::fmt::Write;

/// Number of typed audiences the generated datafile declares.
const AUDIENCES: usize = 40;

/// A version-4 datafile with `flags` flags, the first `experiments` of which (at most
/// `flags`) have an A/B experiment rule.
pub fn generate_datafile(flags: usize, experiments: usize) -> String {
    let experiments = experiments.min(flags);
    let mut out = String::with_capacity(flags * 4_000 + 10_000);
    out.push_str(r#"{"version":"4","accountId":"12345","projectId":"67890","revision":"42","#);
    out.push_str(r#""anonymizeIP":true,"botFiltering":false,"sendFlagDecisions":true,"#);
    out.push_str(r#""sdkKey":"generated","environmentKey":"production","region":"US","#);
    out.push_str(r#""attributes":["#);
    for a in 0..4 {
        sep(&mut out, a);
        let _ = write!(out, r#"{{"id":"9{a}","key":"attr_{a}"}}"#);
    }
    out.push_str(r#"],"audiences":[{"id":"$opt_dummy_audience","name":"Optimizely-Generated Audience for Backwards Compatibility","conditions":"[\"or\", {\"match\": \"exact\", \"name\": \"$opt_dummy_attribute\", \"type\": \"custom_attribute\", \"value\": \"$opt_dummy_value\"}]"}],"#);
    out.push_str(r#""typedAudiences":["#);
    for a in 0..AUDIENCES {
        sep(&mut out, a);
        write_audience(&mut out, a);
    }
    out.push_str(r#"],"events":[{"id":"7001","key":"purchase","experimentIds":[]}],"#);
    out.push_str(r#""groups":[],"integrations":[],"experiments":["#);
    for f in 0..experiments {
        sep(&mut out, f);
        write_experiment(&mut out, f);
    }
    out.push_str(r#"],"rollouts":["#);
    for f in 0..flags {
        sep(&mut out, f);
        write_rollout(&mut out, f);
    }
    out.push_str(r#"],"featureFlags":["#);
    for f in 0..flags {
        sep(&mut out, f);
        write_flag(&mut out, f, f < experiments);
    }
    out.push_str("]}");
    out
}

fn sep(out: &mut String, index: usize) {
    if index > 0 {
        out.push(',');
    }
}

fn write_audience(out: &mut String, a: usize) {
    let attr = a % 4;
    let _ = write!(
        out,
        r#"{{"id":"5{a:05}","name":"audience {a}","conditions":["and",["or",{{"type":"custom_attribute","name":"attr_{attr}","match":"exact","value":"value-{a}"}},{{"type":"custom_attribute","name":"attr_{attr}","match":"gt","value":{a}}}],["not",{{"type":"custom_attribute","name":"attr_{attr}","match":"semver_lt","value":"1.{a}.0"}}]]}}"#
    );
}

fn write_variables(out: &mut String, f: usize, variation: usize) {
    let _ = write!(
        out,
        r#""variables":[{{"id":"8{f:06}1","value":"text {variation}"}},{{"id":"8{f:06}2","value":"{variation}"}},{{"id":"8{f:06}3","value":"true"}},{{"id":"8{f:06}4","value":"{{\"v\":{variation}}}"}}]"#
    );
}

fn write_experiment(out: &mut String, f: usize) {
    let (a1, a2) = (f % AUDIENCES, (f + 7) % AUDIENCES);
    let _ = write!(
        out,
        r#"{{"id":"1{f:06}","key":"exp_{f}","status":"Running","layerId":"2{f:06}","audienceIds":["5{a1:05}","5{a2:05}"],"audienceConditions":["or","5{a1:05}","5{a2:05}"],"forcedVariations":{{"qa-user":"exp_{f}_b"}},"#
    );
    let _ = write!(
        out,
        r#""trafficAllocation":[{{"entityId":"3{f:06}0","endOfRange":5000}},{{"entityId":"3{f:06}1","endOfRange":10000}}],"variations":["#
    );
    for v in 0..2 {
        sep(out, v);
        let letter = if v == 0 { "a" } else { "b" };
        let _ = write!(
            out,
            r#"{{"id":"3{f:06}{v}","key":"exp_{f}_{letter}","featureEnabled":true,"#
        );
        write_variables(out, f, v);
        out.push('}');
    }
    out.push_str("]}");
}

fn write_rollout(out: &mut String, f: usize) {
    let _ = write!(out, r#"{{"id":"4{f:06}","experiments":["#);
    for rule in 0..3 {
        sep(out, rule);
        let audiences = if rule == 2 {
            String::new()
        } else {
            format!(r#""5{:05}""#, (f + rule) % AUDIENCES)
        };
        let _ = write!(
            out,
            r#"{{"id":"6{f:06}{rule}","key":"rule_{f}_{rule}","status":"Running","layerId":"6{f:06}{rule}","audienceIds":[{audiences}],"forcedVariations":{{}},"trafficAllocation":[{{"entityId":"7{f:06}{rule}","endOfRange":{end}}}],"variations":[{{"id":"7{f:06}{rule}","key":"on","featureEnabled":true,"#,
            end = if rule == 2 { 10_000 } else { 5_000 }
        );
        write_variables(out, f, rule + 10);
        out.push_str("}]}");
    }
    out.push_str("]}");
}

fn write_flag(out: &mut String, f: usize, has_experiment: bool) {
    let experiment_ids = if has_experiment {
        format!(r#""1{f:06}""#)
    } else {
        String::new()
    };
    let _ = write!(
        out,
        r#"{{"id":"0{f:06}","key":"flag_{f}","rolloutId":"4{f:06}","experimentIds":[{experiment_ids}],"variables":[{{"id":"8{f:06}1","key":"title","type":"string","defaultValue":"default"}},{{"id":"8{f:06}2","key":"count","type":"integer","defaultValue":"1"}},{{"id":"8{f:06}3","key":"enabled","type":"boolean","defaultValue":"false"}},{{"id":"8{f:06}4","key":"payload","type":"string","subType":"json","defaultValue":"{{}}"}}]}}"#
    );
}

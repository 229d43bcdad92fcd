//! Optimizely's semantic-version rules (core.md §4.4), through the public `semver` module and
//! through `semver_*` audience conditions.

use optimizely_fx_core::semver::{Version, compare};
use std::cmp::Ordering::{Equal, Greater, Less};

#[test]
fn valid_and_invalid_versions() {
    for valid in [
        "1",
        "1.2",
        "1.2.3",
        "0.0.0",
        "1.2.3-beta",
        "1.2.3+build",
        "1-beta",
        "1.2.3-beta.1+b.2",
        "01.002",
    ] {
        assert!(Version::parse(valid).is_some(), "{valid} should be valid");
    }
    for invalid in [
        "",
        "2.",
        ".2",
        "3.7.2.2",
        "3.x",
        "-",
        "+",
        "1..2",
        " 1.2",
        "1.2 ",
        "1.\t2",
        "1.2\u{a0}",
        "a.b.c",
        "1.2.3.4-beta",
        "-1.2",
        "+1.2",
        "1.-2",
    ] {
        assert!(
            Version::parse(invalid).is_none(),
            "{invalid:?} should be invalid"
        );
    }
}

#[test]
fn pre_release_and_build_detection() {
    let v = Version::parse("1.2.3-beta+build").unwrap();
    assert!(v.is_pre_release() && !v.is_build());
    let v = Version::parse("1.2.3+build-7").unwrap();
    assert!(!v.is_pre_release() && v.is_build());
    let v = Version::parse("1.2.3").unwrap();
    assert!(!v.is_pre_release() && !v.is_build());
}

#[test]
fn only_the_targets_parts_are_compared() {
    assert_eq!(compare("2.0.0", "2.0"), Some(Equal));
    assert_eq!(compare("2.0.1", "2.0"), Some(Equal));
    assert_eq!(compare("2.9.9", "2"), Some(Equal));
    assert_eq!(compare("2.1", "2.0"), Some(Greater));
    assert_eq!(compare("1.9", "2.0"), Some(Less));
}

#[test]
fn user_shorter_than_target() {
    assert_eq!(compare("2.0", "2.0.0"), Some(Less));
    assert_eq!(compare("2", "2.0"), Some(Less));
    // Target with pre-release or build: a shorter user version is greater.
    assert_eq!(compare("3.7", "3.7.0-prerelease"), Some(Greater));
    assert_eq!(compare("3.7", "3.7.0+build"), Some(Greater));
}

#[test]
fn numeric_parts_compare_as_integers() {
    assert_eq!(compare("2.0.10", "2.0.9"), Some(Greater));
    assert_eq!(compare("10.0.0", "9.0.0"), Some(Greater));
    assert_eq!(compare("1.02", "1.2"), Some(Equal));
    assert_eq!(
        compare("99999999999999999999999.1", "99999999999999999999998.1"),
        Some(Greater)
    );
}

#[test]
fn pre_releases() {
    assert_eq!(compare("2.0.0-beta", "2.0.0"), Some(Less));
    assert_eq!(compare("2.0.0", "2.0.0-beta"), Some(Greater));
    assert_eq!(compare("3.7.0-beta", "3.7.0-prerelease"), Some(Less));
    assert_eq!(compare("3.7.0-zeta", "3.7.0-prerelease"), Some(Greater));
    assert_eq!(compare("3.7.0-prerelease", "3.7.0-prerelease"), Some(Equal));
    assert_eq!(compare("3.7.1-beta", "3.7.0-prerelease"), Some(Greater));
    assert_eq!(compare("3.0.0-beta", "2.0"), Some(Greater));
    assert_eq!(compare("2.0.0-beta", "2.0"), Some(Less));
    // The suffix is one opaque part compared as a string.
    assert_eq!(compare("1.0.0-beta.10", "1.0.0-beta.9"), Some(Less));
}

#[test]
fn build_metadata_is_compared_not_ignored() {
    assert_eq!(compare("2.0.0+build", "2.0"), Some(Equal));
    assert_eq!(compare("3.7.0+build", "3.7.0+build"), Some(Equal));
    assert_eq!(compare("3.7.0+zzz", "3.7.0+build"), Some(Greater));
    assert_eq!(compare("3.7.0", "3.7.0+build"), Some(Greater));
    assert_eq!(compare("3.7.0-beta", "3.7.0+build"), Some(Less));
    assert_eq!(
        compare("3.7.0-prerelease+build", "3.7.0-prerelease"),
        Some(Greater)
    );
}

#[test]
fn invalid_versions_make_the_comparison_unknown() {
    assert_eq!(compare("2.x", "2.0"), None);
    assert_eq!(compare("2.0", "2.x"), None);
    assert_eq!(compare("", "2.0"), None);
    assert_eq!(compare("2.0", ""), None);
}

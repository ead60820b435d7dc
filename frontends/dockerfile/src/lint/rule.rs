//! The build checks (lint rules) BuildKit's Dockerfile front end runs, with BuildKit's names,
//! descriptions and documentation links.

/// One build check. Names, descriptions and links are BuildKit's (v0.32.2,
/// `frontend/dockerfile/linter/ruleset.go`), so `# check=skip=NAME` and the documentation at
/// docs.docker.com apply unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckRule {
    StageNameCasing,
    FromAsCasing,
    NoEmptyContinuation,
    ConsistentInstructionCasing,
    DuplicateStageName,
    ReservedStageName,
    JSONArgsRecommended,
    MaintainerDeprecated,
    UndefinedArgInFrom,
    WorkdirRelativePath,
    UndefinedVar,
    MultipleInstructionsDisallowed,
    LegacyKeyValueFormat,
    InvalidBaseImagePlatform,
    RedundantTargetPlatform,
    SecretsUsedInArgOrEnv,
    InvalidDefaultArgInFrom,
    FromPlatformFlagConstDisallowed,
    CopyIgnoredFile,
    InvalidDefinitionDescription,
    ExposeProtoCasing,
    ExposeInvalidFormat,
}

impl CheckRule {
    /// Every rule, in BuildKit's order.
    pub const ALL: [CheckRule; 22] = [
        CheckRule::StageNameCasing,
        CheckRule::FromAsCasing,
        CheckRule::NoEmptyContinuation,
        CheckRule::ConsistentInstructionCasing,
        CheckRule::DuplicateStageName,
        CheckRule::ReservedStageName,
        CheckRule::JSONArgsRecommended,
        CheckRule::MaintainerDeprecated,
        CheckRule::UndefinedArgInFrom,
        CheckRule::WorkdirRelativePath,
        CheckRule::UndefinedVar,
        CheckRule::MultipleInstructionsDisallowed,
        CheckRule::LegacyKeyValueFormat,
        CheckRule::InvalidBaseImagePlatform,
        CheckRule::RedundantTargetPlatform,
        CheckRule::SecretsUsedInArgOrEnv,
        CheckRule::InvalidDefaultArgInFrom,
        CheckRule::FromPlatformFlagConstDisallowed,
        CheckRule::CopyIgnoredFile,
        CheckRule::InvalidDefinitionDescription,
        CheckRule::ExposeProtoCasing,
        CheckRule::ExposeInvalidFormat,
    ];

    /// The rule's name, as `# check=skip=` takes it (`FromAsCasing`).
    pub fn name(self) -> &'static str {
        match self {
            CheckRule::StageNameCasing => "StageNameCasing",
            CheckRule::FromAsCasing => "FromAsCasing",
            CheckRule::NoEmptyContinuation => "NoEmptyContinuation",
            CheckRule::ConsistentInstructionCasing => "ConsistentInstructionCasing",
            CheckRule::DuplicateStageName => "DuplicateStageName",
            CheckRule::ReservedStageName => "ReservedStageName",
            CheckRule::JSONArgsRecommended => "JSONArgsRecommended",
            CheckRule::MaintainerDeprecated => "MaintainerDeprecated",
            CheckRule::UndefinedArgInFrom => "UndefinedArgInFrom",
            CheckRule::WorkdirRelativePath => "WorkdirRelativePath",
            CheckRule::UndefinedVar => "UndefinedVar",
            CheckRule::MultipleInstructionsDisallowed => "MultipleInstructionsDisallowed",
            CheckRule::LegacyKeyValueFormat => "LegacyKeyValueFormat",
            CheckRule::InvalidBaseImagePlatform => "InvalidBaseImagePlatform",
            CheckRule::RedundantTargetPlatform => "RedundantTargetPlatform",
            CheckRule::SecretsUsedInArgOrEnv => "SecretsUsedInArgOrEnv",
            CheckRule::InvalidDefaultArgInFrom => "InvalidDefaultArgInFrom",
            CheckRule::FromPlatformFlagConstDisallowed => "FromPlatformFlagConstDisallowed",
            CheckRule::CopyIgnoredFile => "CopyIgnoredFile",
            CheckRule::InvalidDefinitionDescription => "InvalidDefinitionDescription",
            CheckRule::ExposeProtoCasing => "ExposeProtoCasing",
            CheckRule::ExposeInvalidFormat => "ExposeInvalidFormat",
        }
    }

    /// The rule by its name, exactly as BuildKit spells it.
    pub fn from_name(name: &str) -> Option<CheckRule> {
        CheckRule::ALL.into_iter().find(|rule| rule.name() == name)
    }

    /// What the rule asks for, in one sentence.
    pub fn description(self) -> &'static str {
        match self {
            CheckRule::StageNameCasing => "Stage names should be lowercase",
            CheckRule::FromAsCasing => "The 'as' keyword should match the case of the 'from' keyword",
            CheckRule::NoEmptyContinuation => "Empty continuation lines will become errors in a future release",
            CheckRule::ConsistentInstructionCasing => {
                "All commands within the Dockerfile should use the same casing (either upper or lower)"
            }
            CheckRule::DuplicateStageName => "Stage names should be unique",
            CheckRule::ReservedStageName => "Reserved words should not be used as stage names",
            CheckRule::JSONArgsRecommended => {
                "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals"
            }
            CheckRule::MaintainerDeprecated => {
                "The MAINTAINER instruction is deprecated, use a label instead to define an image author"
            }
            CheckRule::UndefinedArgInFrom => "FROM command must use declared ARGs",
            CheckRule::WorkdirRelativePath => {
                "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes"
            }
            CheckRule::UndefinedVar => "Variables should be defined before their use",
            CheckRule::MultipleInstructionsDisallowed => {
                "Multiple instructions of the same type should not be used in the same stage"
            }
            CheckRule::LegacyKeyValueFormat => "Legacy key/value format with whitespace separator should not be used",
            CheckRule::InvalidBaseImagePlatform => "Base image platform does not match expected target platform",
            CheckRule::RedundantTargetPlatform => {
                "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior"
            }
            CheckRule::SecretsUsedInArgOrEnv => "Sensitive data should not be used in the ARG or ENV commands",
            CheckRule::InvalidDefaultArgInFrom => {
                "Default value for global ARG results in an empty or invalid base image name"
            }
            CheckRule::FromPlatformFlagConstDisallowed => "FROM --platform flag should not use a constant value",
            CheckRule::CopyIgnoredFile => "Attempting to Copy file that is excluded by .dockerignore",
            CheckRule::InvalidDefinitionDescription => {
                "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment."
            }
            CheckRule::ExposeProtoCasing => "Protocol in EXPOSE instruction should be lowercase",
            CheckRule::ExposeInvalidFormat => {
                "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release"
            }
        }
    }

    /// The rule's documentation page (BuildKit has none for InvalidBaseImagePlatform).
    pub fn url(self) -> Option<&'static str> {
        Some(match self {
            CheckRule::InvalidBaseImagePlatform => return None,
            CheckRule::StageNameCasing => "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/",
            CheckRule::FromAsCasing => "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
            CheckRule::NoEmptyContinuation => "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/",
            CheckRule::ConsistentInstructionCasing => {
                "https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/"
            }
            CheckRule::DuplicateStageName => "https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/",
            CheckRule::ReservedStageName => "https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/",
            CheckRule::JSONArgsRecommended => "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
            CheckRule::MaintainerDeprecated => "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/",
            CheckRule::UndefinedArgInFrom => "https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/",
            CheckRule::WorkdirRelativePath => "https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/",
            CheckRule::UndefinedVar => "https://docs.docker.com/go/dockerfile/rule/undefined-var/",
            CheckRule::MultipleInstructionsDisallowed => {
                "https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/"
            }
            CheckRule::LegacyKeyValueFormat => "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/",
            CheckRule::RedundantTargetPlatform => {
                "https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/"
            }
            CheckRule::SecretsUsedInArgOrEnv => {
                "https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/"
            }
            CheckRule::InvalidDefaultArgInFrom => {
                "https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/"
            }
            CheckRule::FromPlatformFlagConstDisallowed => {
                "https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/"
            }
            CheckRule::CopyIgnoredFile => "https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/",
            CheckRule::InvalidDefinitionDescription => {
                "https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/"
            }
            CheckRule::ExposeProtoCasing => "https://docs.docker.com/go/dockerfile/rule/expose-proto-casing/",
            CheckRule::ExposeInvalidFormat => "https://docs.docker.com/go/dockerfile/rule/expose-invalid-format/",
        })
    }

    /// Experimental rules run only when `# check=experimental=NAME` (or `=all`) asks for them,
    /// and then even under `skip=all`, as in BuildKit.
    pub fn is_experimental(self) -> bool {
        matches!(self, CheckRule::InvalidDefinitionDescription)
    }
}

impl std::fmt::Display for CheckRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::CheckRule;

    #[test]
    fn every_rule_links_to_its_kebab_case_page() {
        for rule in CheckRule::ALL {
            let mut kebab = String::new();
            // `JSONArgsRecommended` is `json-args-recommended`: an upper-case run is one word.
            let chars: Vec<char> = rule.name().chars().collect();
            for (i, ch) in chars.iter().enumerate() {
                let starts_word = i > 0
                    && ch.is_ascii_uppercase()
                    && (chars[i - 1].is_ascii_lowercase() || chars.get(i + 1).is_some_and(|c| c.is_ascii_lowercase()));
                if starts_word {
                    kebab.push('-');
                }
                kebab.push(ch.to_ascii_lowercase());
            }
            if rule != CheckRule::InvalidBaseImagePlatform {
                assert_eq!(
                    rule.url(),
                    Some(format!("https://docs.docker.com/go/dockerfile/rule/{kebab}/").as_str()),
                    "{rule}"
                );
            }
            assert_eq!(CheckRule::from_name(rule.name()), Some(rule));
        }
    }
}

//! The text of each check's finding, worded exactly as BuildKit words it (its rules'
//! `Format` functions), so output and documentation match.

pub(crate) fn stage_name_casing(stage: &str) -> String {
    format!("Stage name '{stage}' should be lowercase")
}

pub(crate) fn from_as_casing(from: &str, as_word: &str) -> String {
    format!("'{as_word}' and '{from}' keywords' casing do not match")
}

pub(crate) fn no_empty_continuation() -> String {
    "Empty continuation line".to_owned()
}

pub(crate) fn consistent_instruction_casing(command: &str, casing: &str) -> String {
    format!("Command '{command}' should match the case of the command majority ({casing})")
}

pub(crate) fn duplicate_stage_name(stage: &str) -> String {
    format!("Duplicate stage name {}, stage names should be unique", go_quote(stage))
}

pub(crate) fn reserved_stage_name(stage: &str) -> String {
    format!("Stage name should not use the same name as reserved stage {}", go_quote(stage))
}

pub(crate) fn json_args_recommended(instruction: &str) -> String {
    format!("JSON arguments recommended for {instruction} to prevent unintended behavior related to OS signals")
}

pub(crate) fn maintainer_deprecated() -> String {
    "Maintainer instruction is deprecated in favor of using label".to_owned()
}

pub(crate) fn undefined_arg_in_from(arg: &str, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(suggestion) => format!("FROM argument '{arg}' is not declared (did you mean {suggestion}?)"),
        None => format!("FROM argument '{arg}' is not declared"),
    }
}

pub(crate) fn workdir_relative_path(workdir: &str) -> String {
    format!("Relative workdir {} can have unexpected results if the base image changes", go_quote(workdir))
}

pub(crate) fn undefined_var(name: &str, suggestion: Option<&str>) -> String {
    match suggestion {
        Some(suggestion) => format!("Usage of undefined variable '${name}' (did you mean ${suggestion}?)"),
        None => format!("Usage of undefined variable '${name}'"),
    }
}

pub(crate) fn multiple_instructions_disallowed(instruction: &str) -> String {
    format!(
        "Multiple {instruction} instructions should not be used in the same stage because only the last one will be used"
    )
}

pub(crate) fn legacy_key_value_format(instruction: &str) -> String {
    format!("\"{instruction} key=value\" should be used instead of legacy \"{instruction} key value\" format")
}

pub(crate) fn invalid_base_image_platform(image: &str, expected: &str, actual: &str) -> String {
    format!("Base image {image} was pulled with platform {actual:?}, expected {expected:?} for current build")
}

pub(crate) fn redundant_target_platform(platform: &str) -> String {
    format!("Setting platform to predefined {platform} in FROM is redundant as this is the default behavior")
}

pub(crate) fn secrets_used_in_arg_or_env(instruction: &str, key: &str) -> String {
    format!("Do not use ARG or ENV instructions for sensitive data ({instruction} {})", go_quote(key))
}

pub(crate) fn invalid_default_arg_in_from(base: &str) -> String {
    format!("Default value for ARG {base} results in empty or invalid base image name")
}

pub(crate) fn from_platform_flag_const_disallowed(platform: &str) -> String {
    format!("FROM --platform flag should not use constant value {}", go_quote(platform))
}

pub(crate) fn copy_ignored_file(command: &str, file: &str) -> String {
    format!("Attempting to {command} file {} that is excluded by .dockerignore", go_quote(file))
}

pub(crate) fn invalid_definition_description(instruction: &str, name: &str) -> String {
    format!("Comment for {instruction} should follow the format: `# {name} <description>`")
}

pub(crate) fn expose_proto_casing(port: &str) -> String {
    format!("Defined protocol '{port}' in EXPOSE instruction should be lowercase")
}

pub(crate) fn expose_invalid_format(port: &str) -> String {
    format!("EXPOSE instruction should not define an IP address or host-port mapping, found '{port}'")
}

/// Go's `%q` of a string, as history entries quote.
pub(crate) use crate::lower::history::go_quote;

//! Values for a render's or a run's template variables.

use std::collections::BTreeMap;

use super::limits::{VARIABLE_VALUE_MAX_BYTES, VARIABLES_MAX};
use super::{Rule, Violations};
use crate::template::is_variable_name;

/// At most 1000 variables, each named like a template variable, each value
/// at most 256 KiB.
pub fn variables(v: &mut Violations, field: &str, vars: &BTreeMap<String, String>) {
    if vars.len() > VARIABLES_MAX {
        v.push(
            field,
            Rule::Count,
            format!("{field} must have at most {VARIABLES_MAX} entries"),
        );
    }
    for (name, value) in vars {
        // Names may contain dots, so the path quotes them: variables["a.b"].
        let quoted = serde_json::to_string(name).unwrap_or_default();
        let f = format!("{field}[{quoted}]");
        if !is_variable_name(name) {
            v.push(
                &f,
                Rule::Format,
                format!(
                    "{f} is not a variable name: use letters, digits, '_' and '.', starting with a letter or '_'"
                ),
            );
        }
        if value.len() > VARIABLE_VALUE_MAX_BYTES {
            v.push(
                &f,
                Rule::Size,
                format!("{f} must be at most {VARIABLE_VALUE_MAX_BYTES} bytes"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::testing::{fails, ok};
    use super::*;

    // variables

    #[test]
    fn variables_need_template_names_and_bounded_values() {
        let mut vars = BTreeMap::new();
        vars.insert("user.name".to_string(), "Ada".to_string());
        vars.insert("_x".to_string(), "a".repeat(VARIABLE_VALUE_MAX_BYTES));
        ok(|v| variables(v, "variables", &vars));
        vars.insert("not valid".to_string(), String::new());
        vars.insert("big".to_string(), "a".repeat(VARIABLE_VALUE_MAX_BYTES + 1));
        fails(
            |v| variables(v, "variables", &vars),
            &[
                ("variables[\"big\"]", "size"),
                ("variables[\"not valid\"]", "format"),
            ],
        );
    }

    #[test]
    fn at_most_a_thousand_variables_are_accepted() {
        let vars = |n: usize| -> BTreeMap<String, String> {
            (0..n).map(|i| (format!("v{i}"), String::new())).collect()
        };
        ok(|v| variables(v, "variables", &vars(1000)));
        fails(
            |v| variables(v, "variables", &vars(1001)),
            &[("variables", "count")],
        );
    }
}

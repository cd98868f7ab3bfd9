//! The provider form's text fields read into the app's inputs.
//!
//! The form names its inputs after the API's fields' meaning, and every
//! message it makes itself names the API field (`extraHeaders`, `prices`)
//! so the app's messages and these land next to the same inputs.
//! Header values and the key are never put into a message: any of them
//! may be a credential.

use std::collections::BTreeMap;

use promptrefine_app::providers::{NewProviderInput, ProviderPatchInput};
use promptrefine_store::ModelPrice;
use secrecy::SecretString;

use super::super::support::FormData;

/// What the form sent, as typed. The key and header values are kept only
/// as secrets, never echoed back into a page.
pub(super) struct ProviderForm {
    pub name: String,
    pub base_url: String,
    pub models: String,
    pub prices: String,
    pub remove_key: bool,
    pub remove_headers: bool,
    api_key: String,
    headers: String,
}

/// A message for a field the form itself found wrong.
pub(super) type FormErrors = Vec<(String, String)>;

impl ProviderForm {
    pub(super) fn read(form: &FormData) -> ProviderForm {
        ProviderForm {
            name: form.get("name").trim().to_owned(),
            base_url: form.get("base_url").trim().to_owned(),
            models: form.get("models").to_owned(),
            prices: form.get("prices").to_owned(),
            remove_key: form.get("remove_key") == "on",
            remove_headers: form.get("remove_headers") == "on",
            api_key: form.get("api_key").trim().to_owned(),
            headers: form.get("headers").to_owned(),
        }
    }

    /// A blank form, or one showing a stored provider's visible fields.
    pub(super) fn shown(name: &str, base_url: &str, models: &[String], prices: &str) -> Self {
        ProviderForm {
            name: name.to_owned(),
            base_url: base_url.to_owned(),
            models: models.join("\n"),
            prices: prices.to_owned(),
            remove_key: false,
            remove_headers: false,
            api_key: String::new(),
            headers: String::new(),
        }
    }

    fn key(&self) -> Option<SecretString> {
        (!self.api_key.is_empty()).then(|| SecretString::from(self.api_key.clone()))
    }

    pub(super) fn to_new(&self) -> Result<NewProviderInput, FormErrors> {
        let (headers, prices) = self.parsed()?;
        Ok(NewProviderInput {
            name: self.name.clone(),
            base_url: self.base_url.clone(),
            api_key: self.key(),
            extra_headers: headers,
            models: split_models(&self.models),
            prices,
        })
    }

    /// Every visible field is sent; an empty key or header box keeps what
    /// is stored unless its "remove" box is ticked.
    pub(super) fn to_patch(&self) -> Result<ProviderPatchInput, FormErrors> {
        let (headers, prices) = self.parsed()?;
        let api_key = match self.key() {
            Some(k) => Some(Some(k)),
            None if self.remove_key => Some(None),
            None => None,
        };
        let extra_headers = if !headers.is_empty() {
            Some(headers)
        } else if self.remove_headers {
            Some(Vec::new())
        } else {
            None
        };
        Ok(ProviderPatchInput {
            name: Some(self.name.clone()),
            base_url: Some(self.base_url.clone()),
            api_key,
            extra_headers,
            models: Some(split_models(&self.models)),
            prices: Some(prices),
        })
    }

    #[allow(clippy::type_complexity)]
    fn parsed(
        &self,
    ) -> Result<(Vec<(String, SecretString)>, BTreeMap<String, ModelPrice>), FormErrors> {
        let mut errors = Vec::new();
        let headers = parse_headers(&self.headers).unwrap_or_else(|e| {
            errors.extend(e);
            Vec::new()
        });
        let prices = parse_prices(&self.prices).unwrap_or_else(|e| {
            errors.extend(e);
            BTreeMap::new()
        });
        if errors.is_empty() {
            Ok((headers, prices))
        } else {
            Err(errors)
        }
    }
}

/// One model a line, or several separated by commas; blanks dropped.
pub(super) fn split_models(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `Name: value` lines. A line that is not one is named by its number only.
fn parse_headers(text: &str) -> Result<Vec<(String, SecretString)>, FormErrors> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                out.push((
                    name.trim().to_owned(),
                    SecretString::from(value.trim().to_owned()),
                ));
            }
            _ => errors.push((
                "extraHeaders".to_owned(),
                format!("line {}: write each header as Name: value", i + 1),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// `model = input, output` lines (USD per million tokens).
fn parse_prices(text: &str) -> Result<BTreeMap<String, ModelPrice>, FormErrors> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = line.split_once('=').and_then(|(model, rest)| {
            let (input, output) = rest.split_once(',')?;
            let model = model.trim();
            (!model.is_empty()).then_some(())?;
            Some((
                model.to_owned(),
                ModelPrice {
                    input: input.trim().parse().ok()?,
                    output: output.trim().parse().ok()?,
                },
            ))
        });
        match parsed {
            Some((model, price)) if !out.contains_key(&model) => {
                out.insert(model, price);
            }
            Some((model, _)) => errors.push((
                "prices".to_owned(),
                format!("line {}: {model:?} has a price already", i + 1),
            )),
            None => errors.push((
                "prices".to_owned(),
                format!(
                    "line {}: write each price as model = input, output (USD per million tokens)",
                    i + 1
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Prices as the form shows them.
pub(super) fn show_prices(prices: &BTreeMap<String, ModelPrice>) -> String {
    prices
        .iter()
        .map(|(m, p)| format!("{m} = {}, {}", p.input, p.output))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn form(pairs: &[(&str, &str)]) -> ProviderForm {
        ProviderForm::read(&FormData(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }

    #[test]
    fn models_are_split_on_lines_and_commas() {
        assert_eq!(
            split_models(" a\nb, c ,\n\n llama3:8b "),
            ["a", "b", "c", "llama3:8b"]
        );
    }

    #[test]
    fn headers_and_prices_are_read_and_a_bad_line_is_named_without_its_text() {
        let f = form(&[
            ("headers", "X-Org: acme\n\napi-key: s3cret: with colon\n"),
            ("prices", "gpt-x = 0.15, 0.6\nllama3:8b = 0, 0"),
        ]);
        let new = f.to_new().unwrap();
        let h: Vec<(&str, &str)> = new
            .extra_headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(h, [("X-Org", "acme"), ("api-key", "s3cret: with colon")]);
        assert_eq!(new.prices["gpt-x"].output, 0.6);
        assert_eq!(new.prices["llama3:8b"].input, 0.0);

        let bad = form(&[
            ("headers", "no-colon-secret-value"),
            ("prices", "m = 1\nm2 = x, 1"),
        ]);
        let errors = bad.to_new().err().unwrap();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["extraHeaders", "prices", "prices"]);
        assert!(errors.iter().all(|(_, m)| !m.contains("secret-value")));
    }

    #[test]
    fn an_empty_key_keeps_the_stored_one_unless_removal_is_ticked() {
        let keep = form(&[("name", "p"), ("api_key", "  ")])
            .to_patch()
            .unwrap();
        assert!(keep.api_key.is_none() && keep.extra_headers.is_none());
        let remove = form(&[("remove_key", "on"), ("remove_headers", "on")])
            .to_patch()
            .unwrap();
        assert!(matches!(remove.api_key, Some(None)));
        assert!(remove.extra_headers.is_some_and(|h| h.is_empty()));
        let replace = form(&[("api_key", "sk-new"), ("remove_key", "on")])
            .to_patch()
            .unwrap();
        assert_eq!(
            replace.api_key.flatten().unwrap().expose_secret(),
            "sk-new",
            "a key typed wins over the removal box"
        );
    }
}

//! Accounts: email addresses, passwords and API token names.

use super::limits::{
    EMAIL_MAX_CHARS, EMAIL_MIN_CHARS, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS, TOKEN_NAME_MAX_CHARS,
};
use super::rules::{chars, length, one_line};
use super::{Rule, Violations};

/// A new password: 12–1024 characters. Nothing else is required: length is
/// what makes a password strong, and composition rules mostly annoy.
/// The message never repeats the password.
pub fn password(v: &mut Violations, field: &str, password: &str) {
    v.extend(length(
        field,
        password,
        PASSWORD_MIN_CHARS,
        PASSWORD_MAX_CHARS,
    ));
}

/// An API token's name: 1–100 characters after trimming, on one line.
pub fn token_name(v: &mut Violations, field: &str, name: &str) {
    v.extend(one_line(field, name, 1, TOKEN_NAME_MAX_CHARS));
}

/// An email address, checked pragmatically: 3–254 characters, exactly one
/// `@` with something on both sides, and no whitespace or control characters
/// anywhere. Whether it really receives mail is not ours to decide here.
pub fn email(v: &mut Violations, field: &str, email: &str) {
    let n = chars(email);
    if !(EMAIL_MIN_CHARS..=EMAIL_MAX_CHARS).contains(&n) {
        v.extend(length(field, email, EMAIL_MIN_CHARS, EMAIL_MAX_CHARS));
        return;
    }
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !well_formed {
        v.push(
            field,
            Rule::Format,
            format!("{field} must be an email address like name@example.com"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::testing::{fails, ok};
    use super::*;

    // password

    #[test]
    fn passwords_must_be_twelve_to_1024_characters() {
        ok(|v| password(v, "password", "correcthorse"));
        ok(|v| password(v, "password", &"é".repeat(12)));
        ok(|v| password(v, "password", &"a".repeat(1024)));
        for p in ["", "elevenchars", &"a".repeat(1025)] {
            fails(|v| password(v, "password", p), &[("password", "length")]);
        }
    }

    #[test]
    fn the_password_message_does_not_repeat_the_password() {
        let mut v = Violations::new();
        password(&mut v, "password", "hunter2");
        assert!(!v.0[0].message.contains("hunter2"));
    }

    // token_name

    #[test]
    fn token_names_must_be_one_to_a_hundred_characters() {
        ok(|v| token_name(v, "name", "CI deploy"));
        ok(|v| token_name(v, "name", &"a".repeat(100)));
        for n in ["", "   ", &"a".repeat(101)] {
            fails(|v| token_name(v, "name", n), &[("name", "length")]);
        }
        fails(|v| token_name(v, "name", "a\nb"), &[("name", "characters")]);
    }

    // email

    #[test]
    fn ordinary_email_addresses_are_valid() {
        for e in ["a@b", "ada@example.com", "first.last+tag@sub.example.co.uk"] {
            ok(|v| email(v, "email", e));
        }
        let longest = format!("{}@example.com", "a".repeat(254 - "@example.com".len()));
        ok(|v| email(v, "email", &longest));
    }

    #[test]
    fn email_addresses_must_be_three_to_254_characters() {
        fails(|v| email(v, "email", "a@"), &[("email", "length")]);
        let too_long = format!("{}@example.com", "a".repeat(255 - "@example.com".len()));
        fails(|v| email(v, "email", &too_long), &[("email", "length")]);
    }

    #[test]
    fn malformed_email_addresses_are_rejected() {
        for e in [
            "no-at-sign",
            "@example.com",
            "ada@",
            "a@b@c",
            "ada@exa mple.com",
            "ada @example.com",
            "ada@example.com\n",
        ] {
            fails(|v| email(v, "email", e), &[("email", "format")]);
        }
    }
}

//! Prices and discounts formatted for the store's locale and currency, as shoppers there write
//! them: `12,99 €` in fr-FR, `12,99 €` in de-DE, `$12.99` in en-US, `£12.99` in en-GB.
//!
//! A small hand-written table rather than ICU: the crates that do this properly (icu_decimal with
//! its data) weigh megabytes for the handful of locales a retail chain uses, and the rules below are
//! CLDR's for those locales. A locale not in the table falls back to en-US separators with the ISO
//! code, which is unambiguous if not elegant. Amounts are integers in minor units (cents), so no
//! floating-point rounding ever shows on a price tag.

/// No-break space: CLDR puts it between a French or German amount and its currency sign, so the
/// two never land on separate lines.
const NO_BREAK_SPACE: char = '\u{a0}';
/// Narrow no-break space: French thousands separator and the space before `%`.
const NARROW_NO_BREAK_SPACE: char = '\u{202f}';

struct LocaleRules {
    decimal: char,
    group: char,
    /// Currency sign after the amount, with a no-break space (`12,99 €`); else before (`$12.99`).
    sign_after: bool,
    /// Space between the number and `%` (French typography).
    percent_space: Option<char>,
}

fn rules(locale: &str) -> LocaleRules {
    let language = locale
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match language.as_str() {
        "fr" => LocaleRules {
            decimal: ',',
            group: NARROW_NO_BREAK_SPACE,
            sign_after: true,
            percent_space: Some(NARROW_NO_BREAK_SPACE),
        },
        "de" | "es" | "it" | "nl" | "pt" => LocaleRules {
            decimal: ',',
            group: '.',
            sign_after: true,
            percent_space: Some(NO_BREAK_SPACE),
        },
        _ => LocaleRules {
            decimal: '.',
            group: ',',
            sign_after: false,
            percent_space: None,
        },
    }
}

/// The sign and the number of minor-unit digits of an ISO 4217 currency.
fn currency(code: &str, locale: &str) -> (String, u32) {
    let code = code.to_ascii_uppercase();
    let english = locale.to_ascii_lowercase().starts_with("en");
    let sign = match code.as_str() {
        "EUR" => "€".to_owned(),
        "GBP" => "£".to_owned(),
        "JPY" => "¥".to_owned(),
        "CHF" => "CHF".to_owned(),
        // In the US "$" is the dollar; elsewhere CLDR writes "US$" or "$US" to tell it apart.
        "USD" if locale.eq_ignore_ascii_case("en-US") => "$".to_owned(),
        "USD" if english => "US$".to_owned(),
        "USD" => "$US".to_owned(),
        "CAD" if locale.eq_ignore_ascii_case("en-CA") => "$".to_owned(),
        _ => code.clone(),
    };
    let digits = match code.as_str() {
        "JPY" | "KRW" => 0,
        _ => 2,
    };
    (sign, digits)
}

/// `minor_units` of `currency_code` written for `locale`: `format_price(1299, "EUR", "fr-FR")`
/// is `12,99 €` (with a no-break space), `format_price(1299, "USD", "en-US")` is `$12.99`.
pub fn format_price(minor_units: i64, currency_code: &str, locale: &str) -> String {
    let rules = rules(locale);
    let (sign, digits) = currency(currency_code, locale);
    let negative = minor_units < 0;
    let magnitude = minor_units.unsigned_abs();
    let scale = 10u64.pow(digits);
    let whole = group_digits(magnitude / scale, rules.group);
    let mut number = whole;
    if digits > 0 {
        number.push(rules.decimal);
        number.push_str(&format!(
            "{:0width$}",
            magnitude % scale,
            width = digits as usize
        ));
    }
    let minus = if negative { "-" } else { "" };
    if rules.sign_after {
        format!("{minus}{number}{NO_BREAK_SPACE}{sign}")
    } else if sign.chars().all(char::is_alphabetic) {
        // An ISO code before the amount needs a space: "CHF 12.99".
        format!("{minus}{sign}{NO_BREAK_SPACE}{number}")
    } else {
        format!("{minus}{sign}{number}")
    }
}

/// The discount from `old` to `new` as a badge: `-20 %` in fr-FR, `-20%` in en-US. Rounded to
/// the nearest whole percent; `None` when the price did not go down.
pub fn format_discount(old_minor_units: i64, new_minor_units: i64, locale: &str) -> Option<String> {
    if old_minor_units <= 0 || new_minor_units >= old_minor_units {
        return None;
    }
    let saved = old_minor_units - new_minor_units;
    // Rounded half up in integers: (200 * saved / old + 1) / 2.
    let percent = (200 * saved / old_minor_units + 1) / 2;
    let space = rules(locale)
        .percent_space
        .map(String::from)
        .unwrap_or_default();
    Some(format!("-{percent}{space}%"))
}

fn group_digits(value: u64, separator: char) -> String {
    let digits = value.to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(separator);
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shows the invisible spaces, so expectations read plainly.
    fn visible(text: String) -> String {
        text.replace(NO_BREAK_SPACE, "␣")
            .replace(NARROW_NO_BREAK_SPACE, "·")
    }

    #[test]
    fn prices_follow_each_locale() {
        assert_eq!(visible(format_price(1299, "EUR", "fr-FR")), "12,99␣€");
        assert_eq!(visible(format_price(1299, "EUR", "de-DE")), "12,99␣€");
        assert_eq!(visible(format_price(1299, "USD", "en-US")), "$12.99");
        assert_eq!(visible(format_price(1299, "GBP", "en-GB")), "£12.99");
        assert_eq!(visible(format_price(1299, "EUR", "en-GB")), "€12.99");
        assert_eq!(visible(format_price(1299, "USD", "fr-FR")), "12,99␣$US");
        assert_eq!(visible(format_price(1299, "CHF", "en-US")), "CHF␣12.99");
        assert_eq!(visible(format_price(1500, "JPY", "en-US")), "¥1,500");
    }

    #[test]
    fn thousands_are_grouped_and_cents_padded() {
        assert_eq!(
            visible(format_price(123_456_705, "EUR", "fr-FR")),
            "1·234·567,05␣€"
        );
        assert_eq!(
            visible(format_price(123_456_705, "EUR", "de-DE")),
            "1.234.567,05␣€"
        );
        assert_eq!(visible(format_price(100_000, "USD", "en-US")), "$1,000.00");
        assert_eq!(visible(format_price(5, "EUR", "en-GB")), "€0.05");
        assert_eq!(visible(format_price(-250, "USD", "en-US")), "-$2.50");
    }

    #[test]
    fn discounts_round_to_whole_percents_in_the_locale_style() {
        assert_eq!(
            visible(format_discount(1624, 1299, "fr-FR").unwrap()),
            "-20·%"
        );
        assert_eq!(
            visible(format_discount(1624, 1299, "de-DE").unwrap()),
            "-20␣%"
        );
        assert_eq!(format_discount(1000, 750, "en-US").unwrap(), "-25%");
        assert_eq!(format_discount(300, 200, "en-GB").unwrap(), "-33%");
        assert_eq!(format_discount(1000, 1000, "en-US"), None);
        assert_eq!(format_discount(0, 10, "en-US"), None);
    }
}

//! When an order may still change, and which delivery addresses are acceptable (Juniper
//! Market: only while the order is "Received", within the same country, US or Canada, no US
//! territories or military addresses). Both connectors check here before writing anything.

use warmline_domain::{Address, CrmError, OrderStatus};

/// `Ok` while the order's delivery address can change; otherwise the reason, for the customer.
pub(crate) fn check_editable(status: OrderStatus) -> Result<(), CrmError> {
    let reason = match status {
        OrderStatus::Received => return Ok(()),
        OrderStatus::Processing => {
            "This order is already being packed, so its delivery address can't be changed anymore."
        }
        OrderStatus::Shipped | OrderStatus::OutForDelivery => {
            "This order has already shipped, so we can't change its address. The carrier may be \
             able to redirect it: use the tracking number with UPS My Choice, USPS Package \
             Intercept or Canada Post delivery options."
        }
        OrderStatus::ReadyForPickup => {
            "This order is waiting at the store for pickup, so there is no delivery address to \
             change."
        }
        OrderStatus::Delivered | OrderStatus::PickedUp | OrderStatus::Returned => {
            "This order has already been delivered."
        }
        OrderStatus::Cancelled => "This order was cancelled.",
    };
    Err(CrmError::Refused(reason.into()))
}

const COUNTRIES: [&str; 2] = ["US", "CA"];
const US_TERRITORIES: [&str; 5] = ["PR", "GU", "VI", "AS", "MP"];
const US_MILITARY: [&str; 3] = ["AA", "AE", "AP"];
const MAX_FIELD: usize = 200;

/// The address, tidied (trimmed, codes uppercased, Canadian postal codes as `A1A 1A1`), if the
/// order may be sent there; `current` is where it goes now. Refusals explain themselves.
pub(crate) fn check_address(new: &Address, current: Option<&Address>) -> Result<Address, CrmError> {
    let refuse = |reason: &str| Err(CrmError::Refused(reason.into()));
    let tidy = |s: &str| s.trim().to_owned();
    let optional = |s: &Option<String>| s.as_deref().map(tidy).filter(|s| !s.is_empty());
    let address = Address {
        name: optional(&new.name),
        line1: tidy(&new.line1),
        line2: optional(&new.line2),
        city: tidy(&new.city),
        region: optional(&new.region).map(|r| r.to_uppercase()),
        postal_code: tidy(&new.postal_code).to_uppercase(),
        country: tidy(&new.country).to_uppercase(),
    };
    if address.line1.is_empty() || address.city.is_empty() || address.postal_code.is_empty() {
        return refuse("The address needs a street, a city and a postal code.");
    }
    let fields = [&address.line1, &address.city, &address.postal_code];
    let too_long = fields.iter().any(|f| f.len() > MAX_FIELD)
        || [&address.name, &address.line2, &address.region]
            .iter()
            .any(|f| f.as_ref().is_some_and(|f| f.len() > MAX_FIELD));
    if too_long {
        return refuse("That address is too long.");
    }
    if !COUNTRIES.contains(&address.country.as_str()) {
        return refuse("We deliver only in the United States and Canada.");
    }
    if current.is_some_and(|c| !c.country.eq_ignore_ascii_case(&address.country)) {
        return refuse(
            "The new address must be in the same country as the original one: US orders \
             deliver only in the US, and Canadian orders only in Canada.",
        );
    }
    let region = address.region.as_deref().unwrap_or_default();
    if address.country == "US" {
        if US_TERRITORIES.contains(&region) {
            return refuse("We don't ship to US territories.");
        }
        if US_MILITARY.contains(&region) {
            return refuse("We don't ship to APO/FPO/DPO military addresses.");
        }
        if !us_zip(&address.postal_code) {
            return refuse("That ZIP code doesn't look right: it should be like 45501.");
        }
        return Ok(address);
    }
    match canadian_postal_code(&address.postal_code) {
        Some(postal_code) => Ok(Address {
            postal_code,
            ..address
        }),
        None => refuse("That postal code doesn't look right: it should be like K1A 0B1."),
    }
}

fn us_zip(zip: &str) -> bool {
    let digits = |s: &str, n| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    match zip.split_once('-') {
        Some((five, four)) => digits(five, 5) && digits(four, 4),
        None => digits(zip, 5),
    }
}

fn canadian_postal_code(code: &str) -> Option<String> {
    let compact: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
    let shape_ok = compact.len() == 6
        && compact.iter().enumerate().all(|(i, c)| {
            if i % 2 == 0 {
                c.is_ascii_uppercase()
            } else {
                c.is_ascii_digit()
            }
        });
    shape_ok.then(|| {
        let (a, b) = compact.split_at(3);
        format!(
            "{} {}",
            a.iter().collect::<String>(),
            b.iter().collect::<String>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(country: &str, region: &str, postal: &str) -> Address {
        Address {
            name: Some(" Maya Thompson ".into()),
            line1: "12 Elm St".into(),
            line2: Some("  ".into()),
            city: "Columbus".into(),
            region: Some(region.into()),
            postal_code: postal.into(),
            country: country.into(),
        }
    }

    fn refusal(r: Result<Address, CrmError>) -> String {
        match r {
            Err(CrmError::Refused(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn good_addresses_are_tidied() {
        let us = check_address(&address("us", "oh", "43004-1234"), None).unwrap();
        assert_eq!(us.name.as_deref(), Some("Maya Thompson"));
        assert_eq!((us.line2, us.region.as_deref()), (None, Some("OH")));
        assert_eq!(us.country, "US");
        let ca = check_address(&address("CA", "ON", "k1a0b1"), None).unwrap();
        assert_eq!(ca.postal_code, "K1A 0B1");
    }

    #[test]
    fn bad_addresses_are_refused_with_a_reason() {
        let current = address("US", "OH", "43004");
        let cases = [
            (address("CA", "ON", "K1A 0B1"), "same country"),
            (address("US", "PR", "00901"), "territories"),
            (address("US", "AE", "09001"), "military"),
            (address("US", "OH", "4300"), "ZIP code"),
            (address("FR", "", "75001"), "United States and Canada"),
            (address("US", "OH", " "), "postal code"),
        ];
        for (new, says) in cases {
            let reason = refusal(check_address(&new, Some(&current)));
            assert!(reason.contains(says), "{new:?}: {reason}");
        }
        let reason = refusal(check_address(&address("CA", "ON", "123 456"), None));
        assert!(reason.contains("K1A 0B1"), "{reason}");
    }

    #[test]
    fn only_received_orders_are_editable() {
        assert_eq!(check_editable(OrderStatus::Received), Ok(()));
        for status in OrderStatus::ALL.into_iter().skip(1) {
            assert!(
                matches!(check_editable(status), Err(CrmError::Refused(r)) if !r.is_empty()),
                "{status}"
            );
        }
    }
}

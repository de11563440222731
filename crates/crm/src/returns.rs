//! Return rules: whether one order line can be returned now, until when, and why not.
//! [`ReturnRules::default`] is Juniper Market's policy (knowledge/articles/returns-policy.md
//! and non-returnable-items.md); a business with other rules builds its own.

use time::{Date, Duration, Month, OffsetDateTime, Time};
use warmline_domain::{CrmError, Order, OrderStatus, ReturnEligibility};

/// A business's return policy, as data.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnRules {
    /// Days to start a return, counted from delivery (or pickup).
    pub window_days: i64,
    /// Longer windows for members: `(membership, days)`.
    pub member_windows: Vec<(String, i64)>,
    /// Categories with their own window for everyone, members included: `(category, days)`.
    pub category_windows: Vec<(String, i64)>,
    /// Categories that are never returnable: `(category, reason for the customer)`.
    pub non_returnable: Vec<(String, String)>,
    /// Categories returnable only in some condition: `(category, the condition)`.
    pub conditional: Vec<(String, String)>,
    /// Items bought in a season can be returned until a later date.
    pub holiday: Option<HolidayExtension>,
}

/// Items bought from `from` to `to` (month, day; inclusive) can be returned until the end of
/// `until` of the following year, if that is later than their normal window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HolidayExtension {
    pub from: (Month, u8),
    pub to: (Month, u8),
    pub until: (Month, u8),
}

const DAMAGED: &str = "If it arrived damaged, faulty or wrong, report it within 14 days of \
                       delivery and we'll replace or refund it.";

impl Default for ReturnRules {
    /// Juniper Market: 30 days, 60 for Juniper Plus members, 15 for electronics; items bought
    /// Nov 1–Dec 24 until January 31.
    fn default() -> Self {
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        Self {
            window_days: 30,
            member_windows: vec![("juniper_plus".into(), 60)],
            category_windows: vec![("electronics".into(), 15)],
            non_returnable: vec![
                pair("gift_card", "Gift cards can't be returned or refunded."),
                pair(
                    "digital",
                    "Digital downloads and codes can't be returned once the code has been sent.",
                ),
                pair(
                    "perishable",
                    "Perishable food and fresh flowers can't be returned.",
                ),
                pair(
                    "personalized",
                    "Personalized and custom-made items can't be returned.",
                ),
            ],
            conditional: vec![
                pair(
                    "software_media",
                    "Software, video games, music and movies can be returned only unopened, \
                     in their original shrink-wrap.",
                ),
                pair(
                    "personal_care",
                    "Cosmetics, skincare and personal-care items can be returned only unopened.",
                ),
                pair(
                    "underwear_swimwear",
                    "Underwear and swimwear can be returned only with the hygiene liner and \
                     tags in place.",
                ),
            ],
            holiday: Some(HolidayExtension {
                from: (Month::November, 1),
                to: (Month::December, 24),
                until: (Month::January, 31),
            }),
        }
    }
}

impl ReturnRules {
    /// Whether item `sku` of `order` can be returned at `now` by a customer with
    /// `membership`. `NotFound` when the order has no such item.
    pub fn evaluate(
        &self,
        order: &Order,
        sku: &str,
        membership: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<ReturnEligibility, CrmError> {
        let item = order
            .items
            .iter()
            .find(|i| i.sku.eq_ignore_ascii_case(sku.trim()))
            .ok_or(CrmError::NotFound)?;
        let refuse = |reason: String| ReturnEligibility {
            eligible: false,
            reason,
            return_by: None,
        };
        let delivered_at = match order.status {
            OrderStatus::Cancelled => {
                return Ok(refuse(
                    "This order was cancelled, so there is nothing to return.".into(),
                ));
            }
            OrderStatus::Returned => {
                return Ok(refuse("This order has already been returned.".into()));
            }
            // A delivered order without a date counts from when it was placed: earlier, so
            // the window can only come out shorter, never wrongly longer.
            OrderStatus::Delivered | OrderStatus::PickedUp => {
                order.delivered_at.unwrap_or(order.placed_at)
            }
            _ => {
                return Ok(refuse(
                    "The return window starts when the order is delivered, so you can start a \
                     return once it arrives."
                        .into(),
                ));
            }
        };
        let category = item.category.as_deref().map(str::to_lowercase);
        let category = category.as_deref();
        if item.final_sale {
            return Ok(refuse(format!(
                "Items marked \"Final sale\" can't be returned or exchanged. {DAMAGED}"
            )));
        }
        if let Some((_, reason)) = find(&self.non_returnable, category) {
            return Ok(refuse(format!("{reason} {DAMAGED}")));
        }
        let days = self.window_for(category, membership);
        // Dates near the end of time (a CRM's placeholder 9999-12-31) must not overflow.
        let window_end = delivered_at
            .checked_add(Duration::days(days))
            .unwrap_or(delivered_at);
        let mut return_by = end_of_day(window_end);
        if let Some(extended) = self.holiday.and_then(|h| h.deadline(order.placed_at)) {
            return_by = return_by.max(extended);
        }
        if now > return_by {
            return Ok(refuse(format!(
                "The return window for this item ended on {}.",
                long_date(return_by)
            )));
        }
        let mut reason = format!("You can return this item until {}.", long_date(return_by));
        if let Some((_, condition)) = find(&self.conditional, category) {
            reason = format!("{reason} {condition}");
        }
        Ok(ReturnEligibility {
            eligible: true,
            reason,
            return_by: Some(return_by),
        })
    }

    fn window_for(&self, category: Option<&str>, membership: Option<&str>) -> i64 {
        if let Some((_, days)) = find(&self.category_windows, category) {
            return *days;
        }
        let member = membership.map(|m| m.trim().to_lowercase());
        let member_days = find(&self.member_windows, member.as_deref()).map(|(_, d)| *d);
        member_days.unwrap_or(0).max(self.window_days)
    }
}

impl HolidayExtension {
    /// The extended deadline for an item bought at `placed_at`, if it was bought in season.
    fn deadline(self, placed_at: OffsetDateTime) -> Option<OffsetDateTime> {
        let year = placed_at.year();
        let day = |(month, day): (Month, u8), year| Date::from_calendar_date(year, month, day);
        let (from, to) = (day(self.from, year).ok()?, day(self.to, year).ok()?);
        let bought = placed_at.date();
        if bought < from || bought > to {
            return None;
        }
        let until = day(self.until, year + 1).ok()?;
        Some(end_of_day(until.with_time(Time::MIDNIGHT).assume_utc()))
    }
}

fn find<'a, T>(table: &'a [(String, T)], key: Option<&str>) -> Option<&'a (String, T)> {
    let key = key?;
    table.iter().find(|(k, _)| k.eq_ignore_ascii_case(key))
}

/// The last millisecond of that day (UTC): a window "until March 5" includes March 5.
fn end_of_day(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_time(Time::MIDNIGHT)
        .checked_add(Duration::days(1) - Duration::milliseconds(1))
        .unwrap_or(t)
}

fn long_date(t: OffsetDateTime) -> String {
    format!("{} {}, {}", t.month(), t.day(), t.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use warmline_domain::OrderItem;

    fn order(status: OrderStatus, placed: OffsetDateTime, delivered: OffsetDateTime) -> Order {
        let item = |sku: &str, category: &str, final_sale| OrderItem {
            sku: sku.into(),
            name: sku.into(),
            quantity: 1,
            price_cents: 1000,
            category: Some(category.into()),
            final_sale,
        };
        Order {
            number: "JM-100000001".into(),
            status,
            placed_at: placed,
            delivered_at: Some(delivered),
            items: vec![
                item("MUG", "home", false),
                item("TV", "electronics", false),
                item("GIFT", "gift_card", false),
                item("SALE", "apparel", true),
                item("LIPSTICK", "personal_care", false),
            ],
            total_cents: 5000,
            currency: "USD".into(),
            delivery_address: None,
            tracking: None,
        }
    }

    fn check(o: &Order, sku: &str, member: Option<&str>, now: OffsetDateTime) -> (bool, String) {
        let e = ReturnRules::default()
            .evaluate(o, sku, member, now)
            .unwrap();
        assert_eq!(e.eligible, e.return_by.is_some());
        (e.eligible, e.reason)
    }

    #[test]
    fn the_window_counts_from_delivery_and_depends_on_category_and_membership() {
        let o = order(
            OrderStatus::Delivered,
            datetime!(2030-05-01 10:00 UTC),
            datetime!(2030-05-04 15:00 UTC),
        );
        let day = |d: u8| datetime!(2030-06-01 12:00 UTC).replace_day(d).unwrap();
        assert_eq!(
            check(&o, "MUG", None, day(3)),
            (true, "You can return this item until June 3, 2030.".into())
        );
        let (eligible, reason) = check(&o, "MUG", None, day(4));
        assert!(
            !eligible && reason.contains("ended on June 3, 2030"),
            "{reason}"
        );
        assert!(
            check(&o, "mug", Some("juniper_plus"), day(30)).0,
            "members: 60 days"
        );
        let (eligible, reason) = check(&o, "TV", Some("juniper_plus"), day(1));
        assert!(!eligible && reason.contains("May 19, 2030"), "{reason}");
        let (eligible, reason) = check(&o, "LIPSTICK", None, day(1));
        assert!(eligible && reason.contains("only unopened"), "{reason}");
    }

    #[test]
    fn some_items_and_orders_are_never_returnable() {
        let o = order(
            OrderStatus::Delivered,
            datetime!(2030-05-01 10:00 UTC),
            datetime!(2030-05-04 15:00 UTC),
        );
        let now = datetime!(2030-05-05 12:00 UTC);
        let (eligible, reason) = check(&o, "GIFT", None, now);
        assert!(!eligible && reason.starts_with("Gift cards"), "{reason}");
        let (eligible, reason) = check(&o, "SALE", None, now);
        assert!(!eligible && reason.contains("Final sale"), "{reason}");
        for (status, says) in [
            (OrderStatus::Shipped, "once it arrives"),
            (OrderStatus::Cancelled, "cancelled"),
            (OrderStatus::Returned, "already been returned"),
        ] {
            let o = Order {
                status,
                ..o.clone()
            };
            let (eligible, reason) = check(&o, "MUG", None, now);
            assert!(!eligible && reason.contains(says), "{status}: {reason}");
        }
        let missing = ReturnRules::default().evaluate(&o, "NOPE", None, now);
        assert_eq!(missing, Err(CrmError::NotFound));
    }

    #[test]
    fn dates_at_the_end_of_time_do_not_overflow() {
        let far = datetime!(9999-12-31 23:00 UTC);
        let o = order(OrderStatus::Delivered, far, far);
        assert!(check(&o, "MUG", None, datetime!(2030-01-01 00:00 UTC)).0);
    }

    #[test]
    fn holiday_purchases_can_be_returned_until_january_31() {
        let o = order(
            OrderStatus::Delivered,
            datetime!(2030-11-20 10:00 UTC),
            datetime!(2030-11-22 10:00 UTC),
        );
        assert!(check(&o, "TV", None, datetime!(2031-01-31 23:00 UTC)).0);
        let (eligible, reason) = check(&o, "MUG", None, datetime!(2031-02-01 00:00 UTC));
        assert!(!eligible && reason.contains("January 31, 2031"), "{reason}");
        let late = order(
            OrderStatus::Delivered,
            datetime!(2030-12-26 10:00 UTC),
            datetime!(2030-12-28 10:00 UTC),
        );
        let (eligible, reason) = check(&late, "TV", None, datetime!(2031-01-20 00:00 UTC));
        assert!(!eligible && reason.contains("January 12, 2031"), "{reason}");
    }
}

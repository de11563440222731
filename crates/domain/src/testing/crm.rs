//! [`MemoryCrm`]: a [`CrmConnector`] fake for the dialog manager's tests.

use crate::conversation::CustomerIdentity;
use crate::crm::{
    Address, Case, CrmConnector, CrmCustomer, CrmCustomerRef, CrmError, CustomerProfile, Order,
    OrderOwner, OrderStatus, ReturnEligibility,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// A [`CrmConnector`] over records given by the test. Can be told to fail (an outage) and
/// counts calls, to check that callers degrade gracefully and don't hammer a CRM.
#[derive(Default)]
pub struct MemoryCrm {
    inner: Mutex<CrmMemory>,
}

#[derive(Default)]
struct CrmMemory {
    customers: Vec<(CustomerIdentity, CrmCustomer)>,
    /// (owner, email the order was placed with, order)
    orders: Vec<(Option<CrmCustomerRef>, String, Order)>,
    cases: Vec<(CrmCustomerRef, Case)>,
    eligibility: HashMap<(String, String), ReturnEligibility>,
    failing: bool,
    calls: usize,
}

impl MemoryCrm {
    /// Makes `customer` findable by `identity`.
    pub fn add_customer(&self, identity: CustomerIdentity, customer: CrmCustomer) {
        self.lock().customers.push((identity, customer));
    }

    /// Adds an order placed with `email`, owned by `customer` (or a guest order).
    pub fn add_order(&self, customer: Option<CrmCustomerRef>, email: &str, order: Order) {
        self.lock()
            .orders
            .push((customer, email.to_lowercase(), order));
    }

    pub fn add_case(&self, customer: CrmCustomerRef, case: Case) {
        self.lock().cases.push((customer, case));
    }

    /// What `return_eligibility` answers for this order line (otherwise `NotFound`).
    pub fn set_eligibility(&self, order: &str, sku: &str, answer: ReturnEligibility) {
        self.lock()
            .eligibility
            .insert((order.into(), sku.into()), answer);
    }

    /// From now on every call fails with `Unavailable` (or works again with `false`).
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// How many calls were made, failed ones included.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CrmMemory> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self) -> Result<std::sync::MutexGuard<'_, CrmMemory>, CrmError> {
        let mut guard = self.lock();
        guard.calls += 1;
        if guard.failing {
            return Err(CrmError::Unavailable("crm is down (test)".into()));
        }
        Ok(guard)
    }
}

impl CrmMemory {
    fn owned_order(&mut self, number: &str, owner: &OrderOwner) -> Option<&mut Order> {
        self.orders
            .iter_mut()
            .find(|(customer, email, order)| {
                order.number == number
                    && match owner {
                        OrderOwner::Customer(r) => customer.as_ref() == Some(r),
                        OrderOwner::Email(e) => *email == e.to_lowercase(),
                    }
            })
            .map(|(_, _, order)| order)
    }
}

#[async_trait]
impl CrmConnector for MemoryCrm {
    async fn find_customer(
        &self,
        identity: &CustomerIdentity,
    ) -> Result<Option<CrmCustomer>, CrmError> {
        let m = self.check()?;
        Ok(m.customers
            .iter()
            .find(|(i, _)| i == identity)
            .map(|(_, c)| c.clone()))
    }

    async fn profile(&self, customer: &CrmCustomerRef) -> Result<CustomerProfile, CrmError> {
        let m = self.check()?;
        m.customers
            .iter()
            .find(|(_, c)| c.reference == *customer)
            .map(|(_, c)| c.profile.clone())
            .ok_or(CrmError::NotFound)
    }

    async fn recent_orders(
        &self,
        customer: &CrmCustomerRef,
        limit: usize,
    ) -> Result<Vec<Order>, CrmError> {
        let m = self.check()?;
        let mut orders: Vec<Order> = m
            .orders
            .iter()
            .filter(|(c, _, _)| c.as_ref() == Some(customer))
            .map(|(_, _, o)| o.clone())
            .collect();
        orders.sort_by_key(|o| std::cmp::Reverse(o.placed_at));
        orders.truncate(limit);
        Ok(orders)
    }

    async fn open_cases(&self, customer: &CrmCustomerRef) -> Result<Vec<Case>, CrmError> {
        let m = self.check()?;
        Ok(m.cases
            .iter()
            .filter(|(c, case)| c == customer && case.status != "closed")
            .map(|(_, case)| case.clone())
            .collect())
    }

    async fn order(&self, number: &str, owner: &OrderOwner) -> Result<Option<Order>, CrmError> {
        Ok(self.check()?.owned_order(number, owner).cloned())
    }

    async fn return_eligibility(
        &self,
        order_number: &str,
        sku: &str,
        owner: &OrderOwner,
    ) -> Result<ReturnEligibility, CrmError> {
        let mut m = self.check()?;
        if m.owned_order(order_number, owner).is_none() {
            return Err(CrmError::NotFound);
        }
        m.eligibility
            .get(&(order_number.to_owned(), sku.to_owned()))
            .cloned()
            .ok_or(CrmError::NotFound)
    }

    async fn update_delivery_address(
        &self,
        order_number: &str,
        address: &Address,
        owner: &OrderOwner,
    ) -> Result<Order, CrmError> {
        let mut m = self.check()?;
        let order = m
            .owned_order(order_number, owner)
            .ok_or(CrmError::NotFound)?;
        if order.status != OrderStatus::Received {
            return Err(CrmError::Refused(
                "This order can no longer be changed.".into(),
            ));
        }
        order.delivery_address = Some(address.clone());
        Ok(order.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::Channel;

    fn order(number: &str) -> Order {
        Order {
            number: number.into(),
            status: OrderStatus::Received,
            placed_at: crate::conversation::now(),
            delivered_at: None,
            items: Vec::new(),
            total_cents: 0,
            currency: "USD".into(),
            delivery_address: None,
            tracking: None,
        }
    }

    #[tokio::test]
    async fn the_fake_checks_owners_and_can_fail() {
        let crm = MemoryCrm::default();
        let identity = CustomerIdentity {
            channel: Channel::Email,
            external_id: "ana@example.com".into(),
        };
        let ana = CrmCustomer {
            reference: CrmCustomerRef("c1".into()),
            profile: CustomerProfile::default(),
        };
        crm.add_customer(identity.clone(), ana.clone());
        crm.add_order(
            Some(ana.reference.clone()),
            "Ana@example.com",
            order("JM-1"),
        );
        assert_eq!(crm.find_customer(&identity).await, Ok(Some(ana.clone())));
        let by_email = OrderOwner::Email("ana@example.com".into());
        assert!(crm.order("JM-1", &by_email).await.unwrap().is_some());
        let other = OrderOwner::Customer(CrmCustomerRef("c2".into()));
        assert_eq!(crm.order("JM-1", &other).await, Ok(None));
        crm.set_failing(true);
        assert!(matches!(
            crm.find_customer(&identity).await,
            Err(CrmError::Unavailable(_))
        ));
        assert_eq!(crm.calls(), 4);
    }
}

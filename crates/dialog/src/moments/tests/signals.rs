//! The detector end to end, one signal at a time.

use super::super::*;

pub(super) fn detector() -> Detector {
    Detector::new(Policy::default(), None)
}

fn assess(ctx: &Context) -> Decision {
    detector().assess_phrases(ctx)
}

fn say(text: &str) -> Decision {
    assess(&Context::new(text, Channel::Web))
}

fn dialogue(turns: &[(&str, BotOutcome)], now: &str) -> Context {
    let history = turns.iter().map(|(t, b)| PastTurn::new(*t, *b)).collect();
    Context::new(now, Channel::Web).with_history(history)
}

/// Asserts that each message fires its topic (`high_stakes:<topic>`).
fn assert_topics(cases: &[(&str, &str)]) {
    for (text, topic) in cases {
        let d = say(text);
        assert!(d.fired(&format!("high_stakes:{topic}")), "{text}: {d}");
    }
}

/// Asserts that no message escalates.
fn assert_calm(texts: &[&str]) {
    for text in texts {
        let d = say(text);
        assert!(!d.escalate, "{text}: {d}");
    }
}

fn score_of(d: &Decision, code: &str) -> f32 {
    d.signals
        .iter()
        .filter(|s| s.reason.code() == code)
        .map(|s| s.score)
        .sum()
}

#[test]
fn an_explicit_request_escalates_whatever_the_score() {
    let d = say("could I speak with a real person please");
    assert!(d.escalate);
    assert_eq!(d.reasons(), ["explicit_request"]);
    assert_eq!(d.forced_by, Some(Reason::ExplicitRequest));
    assert!(!say("are you a real person?").escalate);
    assert!(!say("my rep at the store said I could exchange it").escalate);
}

#[test]
fn negated_anger_is_not_frustration_and_intensifiers_count_more() {
    let rules = &Policy::default().frustration;
    assert_eq!(rules.turn("I'm not angry at all, just asking").score, 0.0);
    let plain = rules.turn("this is annoying").score;
    let strong = rules.turn("this is extremely annoying").score;
    let soft = rules.turn("this is a bit annoying").score;
    assert!(soft < plain && plain < strong, "{soft} {plain} {strong}");
    // Negation stops at the end of a sentence.
    assert!(rules.turn("I got nothing. So annoying").score > 0.5);
}

#[test]
fn caps_and_exclamation_marks_alone_are_not_anger() {
    assert!(!say("OMG I LOVE THIS SO MUCH!!! do you have it in blue??").fired("frustration"));
    let shouting = Policy::default()
        .frustration
        .turn("WHY IS MY ORDER STILL NOT HERE?? useless");
    assert!(shouting.score >= 1.3 && shouting.cues >= 3, "{shouting:?}");
}

#[test]
fn a_whole_message_in_caps_shouts_louder_than_a_few_words() {
    let rules = &Policy::default().frustration;
    let all = rules.turn("WHY HAS NOBODY CALLED ME BACK").score;
    let some = rules.turn("WHY has NOBODY called me back").score;
    assert!(all > some && some > 0.0, "{all} {some}");
}

#[test]
fn masked_profanity_counts() {
    let rules = &Policy::default().frustration;
    assert!(rules.turn("f*** this").score > rules.turn("this").score);
    assert!(rules.turn("#$%@ website").score > 0.0);
    assert_eq!(
        rules.turn("email help@junipermarket.example for $5").score,
        0.0
    );
}

#[test]
fn frustration_is_a_trend_not_one_word() {
    // One mildly annoyed message: a small score, no escalation.
    let once = say("that's annoying");
    assert!(!once.escalate);
    assert_eq!(
        score_of(&once, "frustration"),
        Policy::default().weights().frustration_mild
    );
    // The same words after two irritated turns: sustained, escalates.
    let ctx = dialogue(
        &[
            ("my parcel still hasn't come", BotOutcome::Answered),
            (
                "still nothing, this is getting annoying",
                BotOutcome::Answered,
            ),
        ],
        "that's annoying",
    );
    let d = assess(&ctx);
    assert!(d.escalate, "{d}");
    assert!(d.signals[0].detail.contains("sustained"), "{:?}", d.signals);
    // Rising: calm, then irritated, then angry.
    let ctx = dialogue(
        &[
            ("where is my order", BotOutcome::Answered),
            ("still waiting", BotOutcome::Answered),
        ],
        "I'm getting really angry",
    );
    let d = assess(&ctx);
    assert!(d.escalate && d.signals[0].detail.contains("rising"), "{d}");
}

#[test]
fn two_answers_missing_in_a_row_escalate_one_does_not() {
    let one = dialogue(
        &[("do you sell kayaks", BotOutcome::NoAnswer)],
        "what about canoes",
    );
    assert!(!assess(&one).escalate);
    let two = dialogue(
        &[
            ("do you sell kayaks", BotOutcome::NoAnswer),
            ("what about canoes", BotOutcome::NoAnswer),
        ],
        "ok",
    );
    let d = assess(&two);
    assert!(d.escalate && d.fired("repeated_failure"), "{d}");
    let step = Context::new("it says invalid", Channel::Web).with_step(StepState {
        failures: 2,
        experience_critical: false,
    });
    assert!(assess(&step).fired("repeated_failure"));
}

#[test]
fn a_rephrased_question_escalates_after_no_answer_and_weighs_less_after_an_answer() {
    let missed = dialogue(
        &[("how long do paypal refunds take", BotOutcome::NoAnswer)],
        "refund to paypal, how long?",
    );
    let d = assess(&missed);
    assert!(d.escalate && d.fired("rephrased_question"), "{d}");
    let answered = dialogue(
        &[("how long do paypal refunds take", BotOutcome::Answered)],
        "refund to paypal, how long?",
    );
    let d = assess(&answered);
    assert!(!d.escalate, "{d}");
    assert_eq!(
        score_of(&d, "rephrased_question"),
        Policy::default().weights().rephrased_after_answer
    );
    // A narrower follow-up on a new subject is no rephrase.
    let follow = dialogue(
        &[("how do i reset my password", BotOutcome::NoAnswer)],
        "how do i turn on two factor",
    );
    assert!(!assess(&follow).fired("rephrased_question"));
}

#[test]
fn a_vip_is_escalated_at_a_lower_threshold() {
    let ctx = dialogue(
        &[("when will my backorder ship", BotOutcome::Answered)],
        "so when does the backordered lamp ship",
    );
    let standard = assess(&ctx);
    let vip = assess(&ctx.clone().with_tier("VIP"));
    assert!(!standard.escalate);
    assert!(vip.escalate, "{vip}");
    assert_eq!(vip.threshold, 0.5);
    assert!(vip.fired("tier:vip"));
    // An unknown tier gets the default threshold.
    assert_eq!(assess(&ctx.with_tier("platinum")).threshold, 1.0);
}

#[test]
fn high_stakes_topics_fire_on_events_not_on_questions_about_them() {
    for (text, topic) in [
        (
            "someone has been using my card, there are charges i didn't make",
            "fraud",
        ),
        (
            "my dad died last week and his card is still being billed",
            "bereavement",
        ),
        ("the lamp started smoking and burned my hand", "safety"),
        ("my lawyer will be contacting you", "legal"),
        ("my account has been locked for two days", "locked_account"),
        ("i sent the e-gift card to the wrong email", "wrong_payee"),
        ("please cancel my plus membership", "cancellation"),
    ] {
        let d = say(text);
        assert!(
            d.escalate && d.fired(&format!("high_stakes:{topic}")),
            "{text}: {d}"
        );
    }
    for text in [
        "what's your fraud protection policy",
        "if someone used my card what should i do",
        "do you sell smoke alarms",
        "how do i cancel an order",
        "the word 'lawyer' in your terms, what does it mean",
        "my dad passed me his old card, how do i update my payment",
        "what happens if i get locked out of my account",
    ] {
        assert!(!say(text).escalate, "{text}: {}", say(text));
    }
    // "What happened" tells the past: not a hypothetical.
    let d = say("not sure what happened, but my lawyer will be contacting you");
    assert!(d.fired("high_stakes:legal"), "{d}");
}

#[test]
fn a_topic_phrase_right_after_a_negation_is_denied_not_reported() {
    assert_calm(&[
        "I'm not going to sue anyone, I just want my delivery fee back",
        "i was never locked out, i just want to change my email",
    ]);
    // Phrases that carry their own negation still count, and so does a negation further back.
    assert_topics(&[
        ("there's a purchase on my card i did not make", "fraud"),
        (
            "i can't believe it, my account is locked again",
            "locked_account",
        ),
        (
            "not sure why, but my lawyer will be contacting you",
            "legal",
        ),
    ]);
}

#[test]
fn a_topic_told_as_over_and_settled_is_not_reported() {
    assert_calm(&[
        "I was locked out yesterday but the reset link worked and I'm back in. How do I turn on two-step verification?",
        "there was a charge i didn't recognise, but it turns out my husband ordered dog food on our card",
        "someone used my card last month but your team reversed them. does the new card have the same limit?",
    ]);
    // Settled words before the event, or a lockout the reset did not fix, still count.
    assert_topics(&[
        (
            "the reset link worked last time, but now my account is locked again",
            "locked_account",
        ),
        (
            "i'm locked out of my account and the reset link didn't work",
            "locked_account",
        ),
    ]);
}

#[test]
fn someone_elses_loss_or_account_is_not_the_customers_moment() {
    assert_calm(&[
        "My coworker's dad died, what's a good card and a small gift under $40?",
        "do you have sympathy cards in french? need one for a coworker whose mother passed",
        "My Netflix account got suspended, can I buy a Netflix gift card at your store?",
        "Is there a fee to cancel Juniper Plus before the year is up?",
    ]);
    // A death told as the past it is: "before" and "after" are not hypothetical there.
    assert_topics(&[
        (
            "my husband bought me a gift card before he died and now i cant use it",
            "bereavement",
        ),
        (
            "after my mom passed i need to close her account",
            "bereavement",
        ),
    ]);
}

#[test]
fn threats_sickness_and_deaths_told_in_passing_are_recognised_and_denials_are_not() {
    assert_topics(&[
        (
            "Refund me for the broken patio set or I'm doing a chargeback through my bank.",
            "legal",
        ),
        (
            "My whole family got sick after eating the chicken salad, my son is still throwing up",
            "safety",
        ),
        (
            "My brother ordered a recliner for Mom before she passed, it's coming Thursday",
            "bereavement",
        ),
    ]);
    assert_calm(&[
        "I think I lost my Juniper Pay card at the mall. No weird charges on it. Can I get a replacement?",
        "My brother is taking his landlord to small claims court and needs a filing cabinet",
        "how long does a chargeback take to show up?",
        "home sick from work so i missed the delivery, can you redeliver?",
        "my dad passed it to me, how do I register the warranty?",
    ]);
}

#[test]
fn french_and_spanish_moments_are_recognised_told_either_way_round() {
    assert_topics(&[
        ("Me robaron la tarjeta ayer en el metro", "fraud"),
        ("On m'a volé ma carte hier", "fraud"),
        ("Bloquearon mi cuenta y no puedo pagar", "locked_account"),
        (
            "Si vous ne me remboursez pas, je vais porter plainte",
            "legal",
        ),
        ("Voy a demandarlos si no me devuelven el dinero", "legal"),
        ("La olla explotó y mi esposa tiene quemaduras", "safety"),
        ("Le grille-pain a pris feu dans ma cuisine", "safety"),
        (
            "Ma mère est morte le mois dernier, je dois fermer son compte",
            "bereavement",
        ),
    ]);
    assert_calm(&[
        "Avez-vous des avocats bio en stock cette semaine ?",
        "Je voudrais acheter du saumon fumé",
    ]);
}

#[test]
fn channel_rules_send_topics_to_a_person_or_a_phone_call() {
    let web = say("please delete all my personal data");
    assert!(!web.escalate, "{web}");
    let sms = assess(&Context::new(
        "please delete all my personal data",
        Channel::Sms,
    ));
    assert!(
        sms.escalate && sms.fired("channel_rule") && sms.route == Route::Agent,
        "{sms}"
    );
    let fraud = assess(&Context::new("someone used my card", Channel::WhatsApp));
    assert!(fraud.escalate && fraud.route == Route::Voice, "{fraud}");
    assert_eq!(say("someone used my card").route, Route::Agent);
}

#[test]
fn an_experience_critical_step_escalates_at_its_first_failure() {
    let step = |failures| StepState {
        failures,
        experience_critical: true,
    };
    assert!(!assess(&Context::new("ok, done", Channel::Web).with_step(step(0))).escalate);
    let failed = assess(&Context::new("it didn't work", Channel::Web).with_step(step(1)));
    assert!(
        failed.escalate && failed.fired("experience_critical"),
        "{failed}"
    );
    let vip = Context::new("ok, done", Channel::Web)
        .with_step(step(0))
        .with_tier("vip");
    assert!(assess(&vip).escalate);
}

#[test]
fn decisions_explain_themselves_without_the_customers_words() {
    let text = "my card was stolen, call me at 555-0199";
    let d = assess(&Context::new(text, Channel::Sms));
    for shown in [d.to_string(), d.explanation(), d.reasons().join(" ")] {
        assert!(
            !shown.contains("stolen") && !shown.contains("555"),
            "{shown}"
        );
    }
    assert!(d.to_string().contains("high_stakes:fraud="), "{d}");
    assert!(
        d.explanation().starts_with("hand over (voice)"),
        "{}",
        d.explanation()
    );
    assert!(
        say("what time do you open")
            .explanation()
            .starts_with("keep with the bot")
    );
}

#[test]
fn a_transcript_becomes_a_context() {
    use warmline_domain::{ConversationId, Reply, ReplyKind};
    let id = ConversationId::new();
    let reply = |kind| Reply {
        text: "..".into(),
        citations: vec![],
        kind,
        support: 0.0,
        suggestions: vec![],
    };
    let messages = [
        Message::from_customer(id, "do you sell kayaks"),
        Message::from_reply(id, &reply(ReplyKind::NoAnswer)),
        Message::from_customer(id, "what about canoes"),
        Message::from_reply(id, &reply(ReplyKind::Answer)),
        Message::from_customer(id, "ok thanks"),
    ];
    let ctx = Context::from_transcript(&messages, Channel::Telegram).unwrap();
    assert_eq!(ctx.message, "ok thanks");
    assert_eq!(
        ctx.history,
        [
            PastTurn::new("do you sell kayaks", BotOutcome::NoAnswer),
            PastTurn::new("what about canoes", BotOutcome::Answered)
        ]
    );
    assert!(Context::from_transcript(&[], Channel::Web).is_none());
}

proptest::proptest! {
    #[test]
    fn any_text_gets_a_consistent_decision(text in "\\PC{0,200}", prior in "\\PC{0,80}") {
        let ctx = dialogue(&[(prior.as_str(), BotOutcome::NoAnswer)], &text);
        let d = assess(&ctx);
        proptest::prop_assert!(d.score.is_finite());
        proptest::prop_assert_eq!(d.escalate, d.forced_by.is_some() || d.score >= d.threshold);
    }
}

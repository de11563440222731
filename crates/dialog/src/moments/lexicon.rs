//! Built-in lexicons: how customers ask for a person and how they show frustration, in
//! general English. The policy file can add to each (and take entries out of the
//! frustration lexicon); business-specific phrases (topics) live only in the policy file.

/// Word classes the built-in patterns use; the policy's `[classes]` may add members.
pub(crate) const CLASSES: &[(&str, &[&str])] = &[
    (
        "person",
        &[
            "person",
            "human",
            "human being",
            "agent",
            "representative",
            "rep",
            "operator",
            "manager",
            "supervisor",
            "team lead",
            "associate",
            "live chat",
            "customer service",
            "customer support",
            "customer care",
            "support team",
            "real people",
            "actual people",
        ],
    ),
    (
        "someone",
        &[
            "someone", "somebody", "anyone", "anybody", "people", "staff",
        ],
    ),
    (
        "staff",
        &[
            "member of your staff",
            "member of staff",
            "staff member",
            "member of your team",
            "employee",
            "someone on the phone",
            "somebody on the phone",
            "someone from your team",
            "somebody from your team",
            "someone from customer service",
            "human being",
        ],
    ),
    (
        "bot",
        &[
            "bot",
            "bots",
            "robot",
            "robots",
            "machine",
            "ai",
            "automated",
            "chatbot",
        ],
    ),
    (
        "qualifier",
        &[
            "real",
            "live",
            "actual",
            "proper",
            "an actual",
            "a real",
            "a live",
        ],
    ),
];

/// Patterns of an explicit request for a person, built in.
pub(crate) const EXPLICIT: &[&str] = &[
    // "can I talk to a person", "could we speak with someone"
    "can|could|may|might i|we please|just? talk|speak|chat * to|with * @person|@someone",
    "let me|us talk|speak|chat * to|with * @person|@someone",
    "want|need|like|love|prefer|rather to? talk|speak|chat * to|with * @person|@someone",
    "way|possible|possibility|chance|option to talk|speak|chat * to|with * @person|@someone",
    // imperatives at the start: "speak to agent", "please transfer me to a rep"
    "^ please|hi|hello|hey|ok|okay? talk|speak|chat * to|with * @person|@someone",
    "connect|transfer|put|pass|escalate me|us|this? * to|with|through * @person|@someone",
    "@someone|@person i|we can talk|speak|chat",
    "want|need|like|please to? escalate",
    "get|give|find|bring|have me|us? a|an|the? @qualifier? @person|@staff",
    "want|need|prefer|rather|would_like a|an|the? @qualifier? @person|@staff",
    // "could I discuss this with a member of your staff", "can you get somebody on the phone"
    "can|could|may|would|want|need|like|prefer|rather|let|please|way|possible * get|have|reach|discuss|speak|talk|chat|put ** @staff",
    "@person please|now|as_soon_as_possible|immediately",
    "please|need @qualifier? @person",
    // the whole message: "agent", "real human", "no bots. person."
    "^ @qualifier? @person $",
    "^ no|not @bot @person $",
    // "someone real", "get me off this bot"
    "@someone real|human|actual|alive|living",
    "need|want|get|like|please * live|human help|support|assistance|agent|agents",
    "live|human help|support|assistance|agent please|now|as_soon_as_possible",
    "help|assistance from a|an|the? @qualifier? @person",
    "get_me_off|get_off|done_with|enough_of|skip|bypass * this|the|your @bot",
    // callbacks
    "call|ring me back",
    "please|pls call|ring me",
    "call|ring me at|on|asap|today|tomorrow|right_away",
    "can|could you|someone call|ring me",
    "@someone * call|ring me",
    "request|want|need|schedule|book|get a? callback|call_back",
];

/// What looks like a request but reports the past or declines one.
pub(crate) const EXPLICIT_EXCEPT: &[&str] = &[
    "said|told|promised|supposed|would|was * call|ring me",
    "sound|sounds|seem|seems|seemed|like|than a|an? @qualifier? @person",
    "talk|speak|chat to you later|soon|tomorrow",
];

/// Words that negate a request or a feeling when they come just before it.
pub(crate) const NEGATORS: &[&str] = &["not", "no", "never", "nothing", "hardly", "nobody"];

/// How many words back a negator reaches.
pub(crate) const NEGATION_WINDOW: usize = 3;

/// Words that strengthen a feeling when just before it ("so annoying").
pub(crate) const INTENSIFIERS: &[&str] = &[
    "very",
    "so",
    "really",
    "extremely",
    "super",
    "totally",
    "absolutely",
    "incredibly",
    "beyond",
    "completely",
    "utterly",
    "truly",
    "fucking",
    "freaking",
    "effing",
    "bloody",
    "seriously",
    "most",
    "too",
];

/// Words that soften it ("a bit annoying").
pub(crate) const DIMINISHERS: &[&str] = &[
    "bit", "little", "kinda", "kind_of", "sort_of", "slightly", "somewhat", "mildly",
];

/// Frustration cues and their weights. Positive weights are frustration; negative weights are
/// calming cues (laughter, thanks, "no rush"); weight 0 marks an idiom that cancels the cue
/// it overlaps ("hate to bother you"). Where entries overlap, the longer one counts.
pub(crate) const FRUSTRATION: &[(&str, f32)] = &[
    // anger and disgust
    ("furious|fuming|seething", 1.0),
    ("livid", 1.0),
    ("infuriating|infuriated|enraged|outraged", 1.0),
    ("angry|angrier", 0.8),
    ("pissed", 0.8),
    ("mad", 0.6),
    ("upset", 0.7),
    ("annoyed|irritated", 0.5),
    ("annoying|irritating|aggravating", 0.6),
    ("frustrated|frustrating", 0.6),
    ("disappointed|disappointing|disappointment", 0.5),
    ("hate", 0.6),
    (
        "disgusting|disgusted|disgraceful|appalling|appalled|atrocious",
        0.8,
    ),
    ("unacceptable|outrageous|ridiculous|pathetic", 0.8),
    ("absurd|unbelievable|insane", 0.5),
    (
        "useless|worthless|incompetent|incompetence|shambles|disgrace",
        0.8,
    ),
    ("hopeless|pointless|shocking", 0.5),
    ("losing|lost my patience|temper", 0.8),
    ("worst", 0.8),
    ("terrible|horrible|awful|horrendous", 0.6),
    ("rude|insulting|disrespectful", 0.6),
    ("nightmare|garbage|joke|clowns", 0.6),
    ("is|s|what a joke", 0.8),
    ("stupid|dumb|idiot|idiots|idiotic", 0.6),
    ("ruined|ruin|ruins", 0.6),
    ("sucks|suck", 0.6),
    ("rip_off|ripoff|ripped_off|robbery|scammed", 0.8),
    ("without telling|asking|warning|notice|notifying", 0.4),
    (
        "fed_up|sick_of|sick_and_tired|tired_of|had_enough|enough_is_enough",
        0.8,
    ),
    ("done_with|so_done|i_am_done", 0.6),
    ("never again", 0.8),
    ("never * shop|order|buy * again", 0.8),
    ("last time i * shop|order|buy", 0.8),
    ("waste|wasting|wasted * time", 0.8),
    ("what a waste", 0.8),
    ("zero_help|no_help_at_all|taking_forever|takes_forever", 0.6),
    ("had_it with", 0.8),
    ("thanks|thank_you for nothing", 1.0),
    ("not|no help|helpful|helping", 0.6),
    ("unhelpful", 0.6),
    ("not happy|ok|okay|acceptable|fair|good_enough", 0.7),
    ("unfair", 0.7),
    ("kidding_me|are_you_serious", 0.6),
    ("seriously", 0.4),
    (
        "ugh|ughh|ughhh|argh|smh|omfg|ffs|for_god_s_sake|for_goodness_sake|come_on",
        0.3,
    ),
    // impatience and persistence
    (
        "still not|nothing|no|waiting|have_not|has_not|does_not|do_not|did_not|can_not",
        0.4,
    ),
    ("still", 0.2),
    ("again", 0.2),
    ("=keeps|=kept", 0.3),
    ("second|third|fourth|fifth|another time", 0.5),
    ("how_many_times|every_single_time|for_the_last_time", 0.6),
    ("already told|said|explained|asked|tried", 0.5),
    ("not listening|answering|answered|answer", 0.6),
    ("not what i asked", 0.6),
    ("even listening|reading", 0.6),
    ("answer me|the_question|my_question", 0.5),
    ("ok|okay|yes|yeah but", 0.3),
    ("been_waiting|waiting_for|waited", 0.3),
    ("for_no_reason|for_nothing|got_nothing|supposed_to", 0.3),
    (
        "nobody|no_one * told|tells|help|helps|helped|answer|answers|called|replied|responded|fix|fixing|fixed|sorting|doing",
        0.4,
    ),
    // calming cues
    ("lol|lmao|rofl|haha|hahaha|hehe|xd", -0.4),
    ("love|loved|adore|cute|gorgeous|beautiful", -0.4),
    ("thanks|thank_you|appreciate|appreciated|grateful", -0.3),
    (
        "awesome|amazing|perfect|wonderful|fantastic|excellent|helpful|great_job",
        -0.4,
    ),
    ("good|nice|cool", -0.2),
    ("no worries|rush|problem|big_deal", -0.5),
    ("not_a_big_deal|all_good|my_fault|my_bad|my_mistake", -0.5),
    ("just wondering|asking|checking|curious", -0.4),
    ("quick question", -0.4),
    ("excited|yay|woohoo", -0.4),
    // idioms that cancel what they overlap
    ("hate to bother|ask|say|trouble|be|interrupt", 0.0),
    ("drop_dead|to_die_for|dying_to", 0.0),
];

/// Swear words (stems), built in. Masked forms ("f***", "s**t") are recognised separately.
pub(crate) const PROFANITY: &[&str] = &[
    "damn",
    "dammit",
    "damnit",
    "goddamn",
    "crap",
    "crappy",
    "hell",
    "shit",
    "shitty",
    "bullshit",
    "bs",
    "piss",
    "ass",
    "asshole",
    "fuck",
    "fucking",
    "fucked",
    "fck",
    "fk",
    "fkn",
    "wtf",
    "stfu",
    "bastard",
    "screw you",
    "screw this",
    "screw that",
    "effing",
];

/// Emoji that show anger, and emoji that show a good mood.
pub(crate) const ANGRY_EMOJI: &[char] = &['😡', '🤬', '😠', '😤', '👿', '💢', '🖕'];
pub(crate) const CALM_EMOJI: &[char] = &[
    '😂', '🤣', '😍', '🥰', '😊', '😄', '😃', '😁', '😅', '🙂', '😀', '❤', '👍', '😘', '🥳', '🙈',
    '😆', '💕', '🔥',
];

/// All-caps words that are abbreviations, not shouting.
pub(crate) const ACRONYMS: &[&str] = &[
    "OK", "ID", "PIN", "CVV", "APR", "USD", "CAD", "JM", "TV", "TVS", "UPS", "USPS", "SMS", "PDF",
    "QR", "ET", "PT", "GST", "HST", "PST", "US", "USA", "UK", "EU", "BC", "ON", "FAQ", "LOL",
    "OMG", "LMAO", "ASAP", "FYI", "BTW", "ER", "BBB", "FTC", "DM", "AM", "PM", "XL", "XXL", "XS",
    "SUV", "USB", "HDMI", "LED", "PS5", "IOS", "AI", "I", "A", "DIY", "RSVP",
];

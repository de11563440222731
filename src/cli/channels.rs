//! Messaging-app flags of `serve` and the `channels` commands. A channel whose secrets are not
//! all set is not mounted: its webhook answers 404, so nothing unsigned is ever accepted.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::time::Duration;
use warmline_channels::MessagingConfig;
use warmline_channels::directline::DirectLineConfig;
use warmline_channels::email::EmailConfig;
use warmline_channels::messaging::OutboxConfig;
use warmline_channels::slack::SlackConfig;
use warmline_channels::telegram::{Telegram, TelegramConfig};
use warmline_channels::twilio::TwilioConfig;
use warmline_channels::whatsapp::WhatsAppConfig;

/// Messaging apps. Webhooks: `/webhooks/telegram`, `/webhooks/whatsapp`, `/webhooks/twilio`
/// (+ `/webhooks/twilio/status`), `/webhooks/slack/events`, `/webhooks/email`.
#[derive(Debug, Args)]
pub struct ChannelArgs {
    #[command(flatten)]
    pub telegram: TelegramArgs,

    #[command(flatten)]
    pub directline: DirectLineArgs,

    /// WhatsApp Cloud API: the app secret that signs webhooks (X-Hub-Signature-256).
    #[arg(long, env = "WARMLINE_WHATSAPP_APP_SECRET", hide_env_values = true)]
    pub whatsapp_app_secret: Option<String>,

    /// WhatsApp: the verify token entered in the app's webhook settings.
    #[arg(long, env = "WARMLINE_WHATSAPP_VERIFY_TOKEN", hide_env_values = true)]
    pub whatsapp_verify_token: Option<String>,

    /// WhatsApp: the access token for sending (a system-user token).
    #[arg(long, env = "WARMLINE_WHATSAPP_TOKEN", hide_env_values = true)]
    pub whatsapp_token: Option<String>,

    /// WhatsApp: the Graph API base, with its version.
    #[arg(
        long,
        env = "WARMLINE_WHATSAPP_API_BASE",
        default_value = "https://graph.facebook.com/v21.0"
    )]
    pub whatsapp_api_base: String,

    /// WhatsApp: messages sent per second at most.
    #[arg(long, env = "WARMLINE_WHATSAPP_RATE", default_value_t = 80)]
    pub whatsapp_rate: u32,

    /// Twilio (SMS, WhatsApp via Twilio): the account SID.
    #[arg(long, env = "WARMLINE_TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,

    /// Twilio: the auth token (signs webhooks, authenticates sends).
    #[arg(long, env = "WARMLINE_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,

    /// Twilio: the public base URL exactly as entered in the Twilio console (signatures cover
    /// it). Default: --public-url.
    #[arg(long, env = "WARMLINE_TWILIO_PUBLIC_URL")]
    pub twilio_public_url: Option<String>,

    /// Twilio: the REST API base.
    #[arg(
        long,
        env = "WARMLINE_TWILIO_API_BASE",
        default_value = "https://api.twilio.com"
    )]
    pub twilio_api_base: String,

    /// Twilio: messages sent per second at most (a US long code: 1).
    #[arg(long, env = "WARMLINE_TWILIO_RATE", default_value_t = 1)]
    pub twilio_rate: u32,

    /// Slack: the app's signing secret.
    #[arg(long, env = "WARMLINE_SLACK_SIGNING_SECRET", hide_env_values = true)]
    pub slack_signing_secret: Option<String>,

    /// Slack: the bot token (xoxb-...).
    #[arg(long, env = "WARMLINE_SLACK_BOT_TOKEN", hide_env_values = true)]
    pub slack_bot_token: Option<String>,

    /// Slack: the Web API base.
    #[arg(
        long,
        env = "WARMLINE_SLACK_API_BASE",
        default_value = "https://slack.com/api"
    )]
    pub slack_api_base: String,

    /// Slack: messages sent per second at most.
    #[arg(long, env = "WARMLINE_SLACK_RATE", default_value_t = 1)]
    pub slack_rate: u32,

    /// Email: the password of the inbound webhook's HTTP Basic auth (put it in the
    /// inbound-parse service's webhook URL: https://inbound:SECRET@HOST/webhooks/email).
    #[arg(long, env = "WARMLINE_EMAIL_WEBHOOK_SECRET", hide_env_values = true)]
    pub email_webhook_secret: Option<String>,

    /// Email: the SMTP server for replies: smtp://HOST:25, smtp://USER:PASS@HOST:587?tls=required
    /// or smtps://USER:PASS@HOST.
    #[arg(long, env = "WARMLINE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Email: the sender of replies, e.g. "Support <help@example.com>".
    #[arg(long, env = "WARMLINE_EMAIL_FROM")]
    pub email_from: Option<String>,

    /// Email: replies sent per second at most.
    #[arg(long, env = "WARMLINE_EMAIL_RATE", default_value_t = 5)]
    pub email_rate: u32,

    /// Outbox: seconds before the first retry of a failed send (doubled on each further one).
    #[arg(long, env = "WARMLINE_OUTBOX_RETRY_BASE_SECS", default_value_t = 2.0)]
    pub outbox_retry_base_secs: f64,

    /// Outbox: most seconds between two attempts.
    #[arg(long, env = "WARMLINE_OUTBOX_RETRY_MAX_SECS", default_value_t = 600)]
    pub outbox_retry_max_secs: u64,

    /// Outbox: attempts before a send is given up (recorded as failed).
    #[arg(long, env = "WARMLINE_OUTBOX_MAX_ATTEMPTS", default_value_t = 30)]
    pub outbox_max_attempts: u32,

    /// Received messages waiting to be handled beyond which webhooks answer 503.
    #[arg(long, env = "WARMLINE_INBOUND_MAX_BACKLOG", default_value_t = 10_000)]
    pub inbound_max_backlog: u64,
}

/// Direct Line 3.0 for Microsoft Web Chat, mounted at /v3/directline when the secret is set.
#[derive(Debug, Args)]
pub struct DirectLineArgs {
    /// Direct Line: the secret that mints tokens (keep it on your site's server; at least 16
    /// characters). Unset: /v3/directline answers 404.
    #[arg(long, env = "WARMLINE_DIRECTLINE_SECRET", hide_env_values = true)]
    pub directline_secret: Option<String>,

    /// Direct Line: origins whose pages may use it (CORS and websockets), comma-separated,
    /// e.g. https://shop.example,https://www.shop.example.
    #[arg(long, env = "WARMLINE_DIRECTLINE_ORIGINS", value_delimiter = ',')]
    pub directline_origins: Vec<String>,
}

impl DirectLineArgs {
    /// The checked settings, or `None` without a secret.
    pub fn config(&self) -> anyhow::Result<Option<DirectLineConfig>> {
        let Some(secret) = &self.directline_secret else {
            return Ok(None);
        };
        Ok(Some(DirectLineConfig::new(
            secret,
            &self.directline_origins,
        )?))
    }
}

#[derive(Debug, Args)]
pub struct TelegramArgs {
    /// Telegram: the bot token from @BotFather.
    #[arg(long, env = "WARMLINE_TELEGRAM_TOKEN", hide_env_values = true)]
    pub telegram_token: Option<String>,

    /// Telegram: the webhook secret token (1-256 of A-Z a-z 0-9 _ -), sent back by Telegram in
    /// X-Telegram-Bot-Api-Secret-Token.
    #[arg(long, env = "WARMLINE_TELEGRAM_SECRET", hide_env_values = true)]
    pub telegram_secret: Option<String>,

    /// Telegram: the Bot API base.
    #[arg(
        long,
        env = "WARMLINE_TELEGRAM_API_BASE",
        default_value = "https://api.telegram.org"
    )]
    pub telegram_api_base: String,

    /// Telegram: messages sent per second at most.
    #[arg(long, env = "WARMLINE_TELEGRAM_RATE", default_value_t = 30)]
    pub telegram_rate: u32,
}

impl TelegramArgs {
    fn config(&self) -> Option<TelegramConfig> {
        Some(TelegramConfig {
            token: self.telegram_token.clone()?,
            secret: self.telegram_secret.clone()?,
            api_base: self.telegram_api_base.clone(),
            rate_per_second: self.telegram_rate,
        })
    }
}

impl ChannelArgs {
    /// The configuration of the channels whose secrets are all set.
    pub fn config(&self, public_url: &str) -> MessagingConfig {
        let whatsapp = (|| {
            Some(WhatsAppConfig {
                app_secret: self.whatsapp_app_secret.clone()?,
                verify_token: self.whatsapp_verify_token.clone()?,
                access_token: self.whatsapp_token.clone()?,
                api_base: self.whatsapp_api_base.clone(),
                rate_per_second: self.whatsapp_rate,
            })
        })();
        let twilio = (|| {
            Some(TwilioConfig {
                account_sid: self.twilio_account_sid.clone()?,
                auth_token: self.twilio_auth_token.clone()?,
                public_url: self
                    .twilio_public_url
                    .clone()
                    .unwrap_or_else(|| public_url.to_owned()),
                api_base: self.twilio_api_base.clone(),
                rate_per_second: self.twilio_rate,
            })
        })();
        let slack = (|| {
            Some(SlackConfig {
                signing_secret: self.slack_signing_secret.clone()?,
                bot_token: self.slack_bot_token.clone()?,
                api_base: self.slack_api_base.clone(),
                rate_per_second: self.slack_rate,
            })
        })();
        let email = (|| {
            let from = self.email_from.clone()?;
            let domain = from
                .rsplit_once('@')
                .map(|(_, d)| d.trim_end_matches('>').to_owned())
                .unwrap_or_else(|| "warmline.local".into());
            Some(EmailConfig {
                webhook_secret: self.email_webhook_secret.clone()?,
                smtp_url: self.smtp_url.clone()?,
                from,
                message_id_domain: domain,
                rate_per_second: self.email_rate,
            })
        })();
        MessagingConfig {
            telegram: self.telegram.config(),
            email,
            whatsapp,
            twilio,
            slack,
            outbox: OutboxConfig {
                retry_base: Duration::from_secs_f64(self.outbox_retry_base_secs.max(0.001)),
                retry_max: Duration::from_secs(self.outbox_retry_max_secs.max(1)),
                max_attempts: self.outbox_max_attempts.max(1),
                ..OutboxConfig::default()
            },
            max_backlog: self.inbound_max_backlog,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Telegram bot set-up.
    #[command(subcommand)]
    Telegram(TelegramCommand),
}

#[derive(Debug, Subcommand)]
pub enum TelegramCommand {
    /// Point the bot's webhook at this server (`setWebhook` with the secret token), so
    /// Telegram delivers messages to URL (default: PUBLIC_URL/webhooks/telegram).
    SetWebhook(SetWebhookArgs),
}

#[derive(Debug, Args)]
pub struct SetWebhookArgs {
    #[command(flatten)]
    pub telegram: TelegramArgs,

    /// The server's public base URL (https, reachable by Telegram).
    #[arg(long, env = "WARMLINE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The full webhook URL, if not PUBLIC_URL/webhooks/telegram.
    #[arg(long)]
    pub url: Option<String>,
}

pub async fn run(command: ChannelsCommand) -> anyhow::Result<()> {
    match command {
        ChannelsCommand::Telegram(TelegramCommand::SetWebhook(args)) => set_webhook(args).await,
    }
}

async fn set_webhook(args: SetWebhookArgs) -> anyhow::Result<()> {
    let config = args
        .telegram
        .config()
        .context("set WARMLINE_TELEGRAM_TOKEN and WARMLINE_TELEGRAM_SECRET (or --telegram-token and --telegram-secret)")?;
    let url = match (&args.url, &args.public_url) {
        (Some(url), _) => url.clone(),
        (None, Some(base)) => format!("{}/webhooks/telegram", base.trim_end_matches('/')),
        (None, None) => anyhow::bail!("give --url or --public-url (WARMLINE_PUBLIC_URL)"),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let answer = Telegram::new(config, http)
        .set_webhook(&url)
        .await
        .map_err(|e| anyhow::anyhow!("Telegram refused setWebhook: {e:?}"))?;
    say!(
        "telegram webhook set to {url}: {}",
        answer["description"].as_str().unwrap_or("ok")
    );
    Ok(())
}

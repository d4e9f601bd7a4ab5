# Inputs of the photobot deployment. deploy/deploy.sh sets the secret ones
# from the environment (TF_VAR_*), so they never appear on a command line.

variable "folder_id" {
  description = "Yandex Cloud folder to deploy into (yc config get folder-id)."
  type        = string

  validation {
    condition     = length(var.folder_id) > 0
    error_message = "folder_id is required."
  }
}

variable "cloud_id" {
  description = "Yandex Cloud cloud id; empty: taken from YC_CLOUD_ID when the provider needs it."
  type        = string
  default     = ""
}

variable "zone" {
  description = "Default availability zone of the provider."
  type        = string
  default     = "ru-central1-a"
}

variable "name_prefix" {
  description = "Prefix of every resource name (functions, gateway, service accounts, secret, bucket)."
  type        = string
  default     = "photobot"

  validation {
    condition     = can(regex("^[a-z][-a-z0-9]{1,29}$", var.name_prefix))
    error_message = "name_prefix: 2-30 of a-z, 0-9 and -, starting with a letter."
  }
}

variable "bucket_name" {
  description = "Object Storage bucket for photos and task state; empty: <name_prefix>-<random suffix> (bucket names are global)."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name: 3-63 of a-z, 0-9, . and -."
  }
}

variable "tg_bot_token" {
  description = "Telegram bot token from @BotFather (stored in Lockbox, never in plain environment)."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[0-9]+:[A-Za-z0-9_-]+$", var.tg_bot_token))
    error_message = "tg_bot_token: expected <digits>:<letters, digits, _ or ->, as @BotFather gives it."
  }
}

variable "replicate_api_token" {
  description = "Replicate API token, r8_... (stored in Lockbox)."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.replicate_api_token) > 0 && !can(regex("\\s", var.replicate_api_token))
    error_message = "replicate_api_token: required, without white space."
  }
}

variable "replicate_model" {
  # The default is an upscaler that takes `image` and `scale`. Pick your own
  # model: owner/name for an official model, owner/name:<version> otherwise,
  # and set replicate_input and replicate_image_field to match its inputs.
  description = "Replicate model: owner/name (official model), owner/name:<version> or a 64-hex version id."
  type        = string
  default     = "nightmareai/real-esrgan:f121d640bd286e1fdc67f9799164c1d5be36ff74576ee11c803ae5b665dd46aa"
}

variable "replicate_input" {
  description = "JSON object of model inputs sent with every photo (REPLICATE_INPUT)."
  type        = string
  default     = "{\"scale\": 2}"

  validation {
    condition     = can(keys(jsondecode(var.replicate_input)))
    error_message = "replicate_input must be a JSON object, e.g. {\"scale\": 2}."
  }
}

variable "replicate_image_field" {
  description = "Model input that receives the photo's URL (REPLICATE_IMAGE_FIELD)."
  type        = string
  default     = "image"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.replicate_image_field))
    error_message = "replicate_image_field: letters, digits and _."
  }
}

variable "replicate_webhook_secret" {
  description = "Replicate's webhook signing secret, whsec_...; empty: the functions fetch it from Replicate at run time."
  type        = string
  sensitive   = true
  default     = ""

  validation {
    condition     = var.replicate_webhook_secret == "" || startswith(var.replicate_webhook_secret, "whsec_")
    error_message = "replicate_webhook_secret: whsec_<base64>, as GET /v1/webhooks/default/secret returns it."
  }
}

variable "tg_webhook_secret" {
  description = "Secret token Telegram sends with every update (1-256 of A-Z a-z 0-9 _ -); empty: generated."
  type        = string
  sensitive   = true
  default     = ""

  validation {
    condition     = var.tg_webhook_secret == "" || can(regex("^[A-Za-z0-9_-]{1,256}$", var.tg_webhook_secret))
    error_message = "tg_webhook_secret: 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)."
  }
}

variable "public_url" {
  # See local.public_url in main.tf: the gateway's URL cannot be known before
  # the gateway exists, and the gateway needs the functions first.
  description = "https URL of the API Gateway, given to the functions as PUBLIC_URL; empty on the very first apply (deploy.sh applies again with output gateway_url)."
  type        = string
  default     = ""

  validation {
    condition     = var.public_url == "" || can(regex("^https://[^/?#]+/?$", var.public_url))
    error_message = "public_url: a plain https base URL, e.g. https://d5d....apigw.yandexcloud.net."
  }
}

# The bot's menu of effects and how results are sent. Each is given to the
# functions only when not empty, so that photobot's own defaults apply
# otherwise (see the Configuration table in README.md). deploy.sh sets them
# from EFFECTS (or the file EFFECTS_FILE), RESULT_AS, DEFAULT_EFFECT and
# BOT_ABOUT.

variable "effects" {
  # A few KB at most: a function's environment is limited to 4 KB in total,
  # Lockbox secrets included (deploy.sh refuses a larger one).
  description = "EFFECTS: the JSON array of effects the bot offers (each a model with its inputs); empty: not set, the single effect of replicate_model."
  type        = string
  default     = ""

  validation {
    condition     = var.effects == "" || (startswith(trimspace(var.effects), "[") && can(jsondecode(var.effects)))
    error_message = "effects must be a JSON array, e.g. [{\"id\": \"upscale\", \"model\": \"owner/name\"}]."
  }
}

variable "result_as" {
  description = "RESULT_AS: how results reach the user, photo, document or both; empty: not set (photobot's default)."
  type        = string
  default     = ""

  validation {
    condition     = contains(["", "photo", "document", "both"], var.result_as)
    error_message = "result_as: photo, document or both (or empty)."
  }
}

variable "default_effect" {
  description = "DEFAULT_EFFECT: id of the effect a photo gets when the user picks none; empty: not set."
  type        = string
  default     = ""

  validation {
    condition     = var.default_effect == "" || can(regex("^[a-z0-9_]{1,32}$", var.default_effect))
    error_message = "default_effect: an effect's id, 1-32 of a-z, 0-9 and _."
  }
}

variable "bot_about" {
  description = "BOT_ABOUT: the bot's about text; empty: not set."
  type        = string
  default     = ""
}

variable "extra_environment" {
  # Plain settings photobot reads besides the ones above, e.g.
  #   extra_environment = { ALLOWED_USERS = "12345,@alice", DAILY_LIMIT_PER_USER = "20" }
  # Secrets never go here: they have their own sensitive variables (Lockbox).
  description = "More plain environment of both functions: access list, limits, prompt field, deadline, title, costs, payments (deploy.sh fills it from PASSTHROUGH_VARS; see docs/configuration.md)."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([for name in keys(var.extra_environment) : contains([
      "ALLOWED_USERS", "ADMIN_USERS", "MAX_ACTIVE_PER_USER", "DAILY_LIMIT_PER_USER",
      "REPLICATE_PROMPT_FIELD", "PREDICTION_DEADLINE", "TELEGRAM_API_URL", "REPLICATE_API_URL",
      "REPLICATE_TITLE", "REPLICATE_COST_PER_SECOND", "RESULT_HOSTS",
      "PRICE_STARS", "FREE_PER_DAY", "STAR_PACKS", "PAY_SUPPORT", "TERMS",
    ], name)])
    error_message = "extra_environment: only the plain settings deploy.sh passes through (PASSTHROUGH_VARS: access list, limits, deadline, title, costs, result hosts, payments); the others have their own variables."
  }
}

variable "log_level" {
  description = "Log level of the functions: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level: debug, info, warn or error."
  }
}

# Memory and timeouts (see the yandex_function resources in main.tf for why).

variable "handler_memory" {
  description = "Memory of fn-handler, MB (a multiple of 128)."
  type        = number
  default     = 128

  validation {
    condition     = var.handler_memory >= 128 && var.handler_memory <= 4096 && var.handler_memory % 128 == 0
    error_message = "handler_memory: 128 to 4096 MB in steps of 128."
  }
}

variable "handler_timeout" {
  description = "Execution timeout of fn-handler, seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.handler_timeout >= 1 && var.handler_timeout <= 600
    error_message = "handler_timeout: 1 to 600 seconds."
  }
}

variable "callback_memory" {
  description = "Memory of fn-callback, MB (a multiple of 128)."
  type        = number
  default     = 128

  validation {
    condition     = var.callback_memory >= 128 && var.callback_memory <= 4096 && var.callback_memory % 128 == 0
    error_message = "callback_memory: 128 to 4096 MB in steps of 128."
  }
}

variable "callback_timeout" {
  description = "Execution timeout of fn-callback, seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.callback_timeout >= 1 && var.callback_timeout <= 600
    error_message = "callback_timeout: 1 to 600 seconds."
  }
}

variable "validate_webhook_headers" {
  # On: the gateway refuses (400) a request without the headers Telegram and
  # Replicate always send, before a function is called and billed. Off only
  # to debug the gateway itself.
  description = "Whether API Gateway refuses webhook requests lacking X-Telegram-Bot-Api-Secret-Token or webhook-id/-timestamp/-signature (deploy/openapi.yaml)."
  type        = bool
  default     = true
}

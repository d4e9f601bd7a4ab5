# photobot on Yandex Cloud: two Cloud Functions behind an API Gateway, state
# in one Object Storage bucket, each function's secrets in its own Lockbox
# secret, each function running as its own service account.
#
#   Telegram --POST /webhook/telegram--> API Gateway --(SA gateway)--> fn-handler  (SA handler)
#   Replicate --POST /webhook/replicate-> API Gateway --(SA gateway)--> fn-callback (SA callback)
#
#   SA handler:  the bucket's objects; Lockbox secret "handler" (tokens,
#                TG_WEBHOOK_SECRET, its static key)
#   SA callback: the bucket's objects; Lockbox secret "callback" (tokens, its
#                static key; no TG_WEBHOOK_SECRET: it serves no Telegram webhook)
#
# deploy/deploy.sh runs this (twice on the first deploy, see local.public_url),
# then `photobot setup`, which sets the Telegram webhook.

locals {
  handler_zip  = "${path.module}/../../dist/fn-handler.zip"
  callback_zip = "${path.module}/../../dist/fn-callback.zip"

  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.name_prefix}-${random_id.bucket_suffix.hex}"

  tg_webhook_secret = var.tg_webhook_secret != "" ? var.tg_webhook_secret : random_password.tg_webhook_secret.result

  # PUBLIC_URL is the gateway's https URL, but the gateway's spec needs the
  # functions' ids, and the functions need PUBLIC_URL: a cycle Terraform
  # cannot resolve in one plan. It is broken with the variable public_url:
  #  1. the first apply runs with public_url = "" and the functions get no
  #     PUBLIC_URL (they answer 500 "misconfigured" until step 2, but nobody
  #     calls them yet: the Telegram webhook is set only by `photobot setup`);
  #  2. deploy.sh reads output gateway_url and, since it differs from
  #     output public_url, applies again with -var public_url=<gateway_url>
  #     (and records it in public_url.auto.tfvars, so a hand-run
  #     `terraform apply` keeps it);
  #  3. later deploys read the existing output first: one apply suffices.
  # The gateway's domain stays the same for the gateway's lifetime.
  public_url = trimsuffix(var.public_url, "/")

  # Plain settings of both functions, all known before anything exists:
  # deploy.sh reads them (settings_encoded) with `terraform console` before
  # the first apply, for the preflight check and the 4 KB estimate of the
  # environment. Nothing secret here: tokens, keys and webhook secrets come
  # from Lockbox (the secrets blocks below). The optional ones are set only
  # when given, so that photobot's own defaults apply otherwise.
  settings_environment = merge(
    {
      S3_ENDPOINT_URL = "https://storage.yandexcloud.net"
      S3_REGION       = "ru-central1"
      LOG_LEVEL       = var.log_level
    },
    # The menu of effects, or the single model: photobot refuses both, since
    # each effect names its own model and inputs.
    var.effects == "" ? {} : { EFFECTS = var.effects },
    var.effects != "" ? {} : {
      REPLICATE_MODEL       = var.replicate_model
      REPLICATE_INPUT       = var.replicate_input
      REPLICATE_IMAGE_FIELD = var.replicate_image_field
    },
    var.result_as == "" ? {} : { RESULT_AS = var.result_as },
    var.default_effect == "" ? {} : { DEFAULT_EFFECT = var.default_effect },
    var.bot_about == "" ? {} : { BOT_ABOUT = var.bot_about },
    var.extra_environment,
  )

  # Plain environment of both functions: the settings, the bucket and the
  # gateway's URL.
  function_environment = merge(
    local.settings_environment,
    { S3_BUCKET = yandex_storage_bucket.main.bucket },
    local.public_url == "" ? {} : { PUBLIC_URL = local.public_url },
  )

  # NAME=value words with urlencode()d values (no space, newline, quote or
  # backslash left), which deploy.sh decodes with bash alone.
  settings_encoded = join(" ", [for name, value in local.settings_environment : "${name}=${urlencode(value)}"])
}

resource "random_id" "bucket_suffix" {
  byte_length = 4
}

# Telegram's secret_token allows only A-Za-z0-9_- (1-256 characters), hence
# special = false. Used only when var.tg_webhook_secret is empty.
resource "random_password" "tg_webhook_secret" {
  length  = 48
  special = false
}

# --- Service accounts -------------------------------------------------------

# Each function runs as its own account, which reads and writes the bucket
# (through its static key, which presigned URLs need) and reads its own
# Lockbox secret, nothing else: a leak of one function's environment does
# not reveal the other's secrets.
resource "yandex_iam_service_account" "handler" {
  name        = "${var.name_prefix}-fn-handler"
  folder_id   = var.folder_id
  description = "photobot fn-handler: the bucket and its own Lockbox secret, nothing else"
}

resource "yandex_iam_service_account" "callback" {
  name        = "${var.name_prefix}-fn-callback"
  folder_id   = var.folder_id
  description = "photobot fn-callback: the bucket and its own Lockbox secret, nothing else"
}

# The gateway calls the (private) functions as this account.
resource "yandex_iam_service_account" "gateway" {
  name        = "${var.name_prefix}-gateway"
  folder_id   = var.folder_id
  description = "photobot API Gateway: invokes fn-handler and fn-callback"
}

# --- Bucket -------------------------------------------------------------------

# Managed with the provider's IAM credentials. The lifecycle rules are the
# same as pipeline.LifecycleRules in the Go code (photobot setup puts them
# too; deploy/deploy_test.go checks both lists are equal, so neither side
# undoes the other).
resource "yandex_storage_bucket" "main" {
  bucket    = local.bucket_name
  folder_id = var.folder_id
  # Everything in it is short-lived (photos, task state); destroy empties it.
  force_destroy = true

  lifecycle_rule {
    id      = "photobot-tasks"
    enabled = true
    filter {
      prefix = "tasks/"
    }
    expiration {
      days = 1
    }
  }

  lifecycle_rule {
    id      = "photobot-updates"
    enabled = true
    filter {
      prefix = "updates/"
    }
    expiration {
      days = 2
    }
  }

  lifecycle_rule {
    id      = "photobot-deliveries"
    enabled = true
    filter {
      prefix = "deliveries/"
    }
    expiration {
      days = 2
    }
  }

  lifecycle_rule {
    id      = "photobot-images"
    enabled = true
    filter {
      prefix = "images/"
    }
    expiration {
      days = 1
    }
  }

  lifecycle_rule {
    id      = "photobot-albums"
    enabled = true
    filter {
      prefix = "albums/"
    }
    expiration {
      days = 1
    }
  }

  lifecycle_rule {
    id      = "photobot-users"
    enabled = true
    filter {
      prefix = "users/"
    }
    expiration {
      days = 2
    }
  }

  lifecycle_rule {
    id      = "photobot-choices"
    enabled = true
    filter {
      prefix = "choices/"
    }
    expiration {
      days = 2
    }
  }

  lifecycle_rule {
    id      = "photobot-setup"
    enabled = true
    filter {
      prefix = "setup/"
    }
    expiration {
      days = 1
    }
  }

  lifecycle_rule {
    id      = "photobot-alerts"
    enabled = true
    filter {
      prefix = "alerts/"
    }
    expiration {
      days = 1
    }
  }

  lifecycle_rule {
    id      = "photobot-stats"
    enabled = true
    filter {
      prefix = "stats/"
    }
    expiration {
      days = 400
    }
  }
}

# storage.editor on this one bucket, not on the folder. Authoritative for the
# role on this bucket only (which Terraform created). The functions read,
# write and delete objects; storage.uploader cannot delete, and a bucket ACL
# (yandex_storage_bucket_grant) replaces the whole ACL and is not verified
# here against presigned URLs, so the bucket-scoped storage.editor is the
# narrowest role that is known to work. It also lets `photobot setup`, which
# runs with fn-handler's key, put the lifecycle rules.
resource "yandex_storage_bucket_iam_binding" "functions_editor" {
  bucket = yandex_storage_bucket.main.bucket
  role   = "storage.editor"
  members = [
    "serviceAccount:${yandex_iam_service_account.handler.id}",
    "serviceAccount:${yandex_iam_service_account.callback.id}",
  ]
}

# --- Lockbox ------------------------------------------------------------------

# One secret per function, each read only by that function's account.
# Each has two versions, each pinned by id where it is used:
#  - tokens: TG_BOT_TOKEN, REPLICATE_API_TOKEN, (fn-handler only)
#    TG_WEBHOOK_SECRET and, when given, REPLICATE_WEBHOOK_SECRET (values kept
#    only as hashes in the Terraform state);
#  - the function's static access key, written by the provider
#    (output_to_lockbox), so the key never enters the Terraform state.
# deploy.sh reads fn-handler's secret for `photobot setup` (outputs
# lockbox_*).
resource "yandex_lockbox_secret" "handler" {
  name                = "${var.name_prefix}-fn-handler"
  folder_id           = var.folder_id
  description         = "photobot fn-handler: tokens, webhook secrets and its static access key"
  deletion_protection = false
}

resource "yandex_lockbox_secret" "callback" {
  name                = "${var.name_prefix}-fn-callback"
  folder_id           = var.folder_id
  description         = "photobot fn-callback: tokens, Replicate's webhook secret and its static access key"
  deletion_protection = false
}

resource "yandex_lockbox_secret_version_hashed" "handler_tokens" {
  secret_id   = yandex_lockbox_secret.handler.id
  description = "photobot fn-handler tokens and webhook secrets"

  key_1        = "TG_BOT_TOKEN"
  text_value_1 = var.tg_bot_token
  key_2        = "REPLICATE_API_TOKEN"
  text_value_2 = var.replicate_api_token
  key_3        = "TG_WEBHOOK_SECRET"
  text_value_3 = local.tg_webhook_secret
  # Only when given; otherwise the functions fetch it from Replicate.
  key_4        = var.replicate_webhook_secret == "" ? null : "REPLICATE_WEBHOOK_SECRET"
  text_value_4 = var.replicate_webhook_secret == "" ? null : var.replicate_webhook_secret

  # A new version exists before the function moves to it and the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

# No TG_WEBHOOK_SECRET: fn-callback serves Replicate's webhook alone.
resource "yandex_lockbox_secret_version_hashed" "callback_tokens" {
  secret_id   = yandex_lockbox_secret.callback.id
  description = "photobot fn-callback tokens and Replicate's webhook secret"

  key_1        = "TG_BOT_TOKEN"
  text_value_1 = var.tg_bot_token
  key_2        = "REPLICATE_API_TOKEN"
  text_value_2 = var.replicate_api_token
  key_3        = var.replicate_webhook_secret == "" ? null : "REPLICATE_WEBHOOK_SECRET"
  text_value_3 = var.replicate_webhook_secret == "" ? null : var.replicate_webhook_secret

  lifecycle {
    create_before_destroy = true
  }
}

resource "yandex_iam_service_account_static_access_key" "handler" {
  service_account_id = yandex_iam_service_account.handler.id
  description        = "photobot fn-handler (and photobot setup): S3 access and presigned URLs"

  output_to_lockbox {
    secret_id            = yandex_lockbox_secret.handler.id
    entry_for_access_key = "AWS_ACCESS_KEY_ID"
    entry_for_secret_key = "AWS_SECRET_ACCESS_KEY"
  }
}

resource "yandex_iam_service_account_static_access_key" "callback" {
  service_account_id = yandex_iam_service_account.callback.id
  description        = "photobot fn-callback: S3 access and presigned URLs"

  output_to_lockbox {
    secret_id            = yandex_lockbox_secret.callback.id
    entry_for_access_key = "AWS_ACCESS_KEY_ID"
    entry_for_secret_key = "AWS_SECRET_ACCESS_KEY"
  }
}

# lockbox.payloadViewer for each account on its own secret only. A function
# version with secrets can be created only once its account may read them,
# hence depends_on in the functions and a short pause for IAM to propagate.
resource "yandex_lockbox_secret_iam_member" "handler_payload" {
  secret_id   = yandex_lockbox_secret.handler.id
  role        = "lockbox.payloadViewer"
  member      = "serviceAccount:${yandex_iam_service_account.handler.id}"
  sleep_after = 5
}

resource "yandex_lockbox_secret_iam_member" "callback_payload" {
  secret_id   = yandex_lockbox_secret.callback.id
  role        = "lockbox.payloadViewer"
  member      = "serviceAccount:${yandex_iam_service_account.callback.id}"
  sleep_after = 5
}

# --- Functions ----------------------------------------------------------------
#
# Memory and timeouts:
#  - memory: 128 MB each (var.handler_memory, var.callback_memory), the
#    smallest size, since the bot's measured peak RSS is about 25-29 MiB
#    (README.md says how it was measured).
#  - fn-handler: 30 s, because it answers Telegram within 20 s, 24 with
#    cleanup (Telegram waits ~60 s; a late answer only makes Telegram deliver
#    the update again).
#  - fn-callback: 30 s, because Replicate retries a webhook that fails or
#    times out.
# user_hash is the zip's sha256, so `make package` + apply publishes a new
# version exactly when the code changed. The zips are uploaded directly
# (content.zip_filename; limit 3.5 MB) and are far smaller; Yandex builds
# them with the golang123 runtime (Go 1.23.9).

resource "yandex_function" "handler" {
  name               = "${var.name_prefix}-fn-handler"
  folder_id          = var.folder_id
  description        = "photobot fn-handler: Telegram's webhook (POST /webhook/telegram)"
  runtime            = "golang123"
  entrypoint         = "index.Handler"
  memory             = var.handler_memory
  execution_timeout  = tostring(var.handler_timeout)
  service_account_id = yandex_iam_service_account.handler.id
  user_hash          = filesha256(local.handler_zip)
  environment        = local.function_environment

  content {
    zip_filename = local.handler_zip
  }

  secrets {
    id                   = yandex_lockbox_secret.handler.id
    version_id           = yandex_lockbox_secret_version_hashed.handler_tokens.id
    key                  = "TG_BOT_TOKEN"
    environment_variable = "TG_BOT_TOKEN"
  }
  secrets {
    id                   = yandex_lockbox_secret.handler.id
    version_id           = yandex_lockbox_secret_version_hashed.handler_tokens.id
    key                  = "REPLICATE_API_TOKEN"
    environment_variable = "REPLICATE_API_TOKEN"
  }
  secrets {
    id                   = yandex_lockbox_secret.handler.id
    version_id           = yandex_lockbox_secret_version_hashed.handler_tokens.id
    key                  = "TG_WEBHOOK_SECRET"
    environment_variable = "TG_WEBHOOK_SECRET"
  }
  secrets {
    id                   = yandex_lockbox_secret.handler.id
    version_id           = yandex_iam_service_account_static_access_key.handler.output_to_lockbox_version_id
    key                  = "AWS_ACCESS_KEY_ID"
    environment_variable = "AWS_ACCESS_KEY_ID"
  }
  secrets {
    id                   = yandex_lockbox_secret.handler.id
    version_id           = yandex_iam_service_account_static_access_key.handler.output_to_lockbox_version_id
    key                  = "AWS_SECRET_ACCESS_KEY"
    environment_variable = "AWS_SECRET_ACCESS_KEY"
  }
  dynamic "secrets" {
    for_each = var.replicate_webhook_secret == "" ? [] : ["REPLICATE_WEBHOOK_SECRET"]
    content {
      id                   = yandex_lockbox_secret.handler.id
      version_id           = yandex_lockbox_secret_version_hashed.handler_tokens.id
      key                  = secrets.value
      environment_variable = secrets.value
    }
  }

  depends_on = [
    yandex_lockbox_secret_iam_member.handler_payload,
    yandex_storage_bucket_iam_binding.functions_editor,
  ]
}

resource "yandex_function" "callback" {
  name               = "${var.name_prefix}-fn-callback"
  folder_id          = var.folder_id
  description        = "photobot fn-callback: Replicate's webhook (POST /webhook/replicate)"
  runtime            = "golang123"
  entrypoint         = "index.Handler"
  memory             = var.callback_memory
  execution_timeout  = tostring(var.callback_timeout)
  service_account_id = yandex_iam_service_account.callback.id
  user_hash          = filesha256(local.callback_zip)
  environment        = local.function_environment

  content {
    zip_filename = local.callback_zip
  }

  secrets {
    id                   = yandex_lockbox_secret.callback.id
    version_id           = yandex_lockbox_secret_version_hashed.callback_tokens.id
    key                  = "TG_BOT_TOKEN"
    environment_variable = "TG_BOT_TOKEN"
  }
  secrets {
    id                   = yandex_lockbox_secret.callback.id
    version_id           = yandex_lockbox_secret_version_hashed.callback_tokens.id
    key                  = "REPLICATE_API_TOKEN"
    environment_variable = "REPLICATE_API_TOKEN"
  }
  secrets {
    id                   = yandex_lockbox_secret.callback.id
    version_id           = yandex_iam_service_account_static_access_key.callback.output_to_lockbox_version_id
    key                  = "AWS_ACCESS_KEY_ID"
    environment_variable = "AWS_ACCESS_KEY_ID"
  }
  secrets {
    id                   = yandex_lockbox_secret.callback.id
    version_id           = yandex_iam_service_account_static_access_key.callback.output_to_lockbox_version_id
    key                  = "AWS_SECRET_ACCESS_KEY"
    environment_variable = "AWS_SECRET_ACCESS_KEY"
  }
  dynamic "secrets" {
    for_each = var.replicate_webhook_secret == "" ? [] : ["REPLICATE_WEBHOOK_SECRET"]
    content {
      id                   = yandex_lockbox_secret.callback.id
      version_id           = yandex_lockbox_secret_version_hashed.callback_tokens.id
      key                  = secrets.value
      environment_variable = secrets.value
    }
  }

  depends_on = [
    yandex_lockbox_secret_iam_member.callback_payload,
    yandex_storage_bucket_iam_binding.functions_editor,
  ]
}

# The functions are not public: only the gateway's account may invoke them.
resource "yandex_function_iam_binding" "handler_invoker" {
  function_id = yandex_function.handler.id
  role        = "functions.functionInvoker"
  members     = ["serviceAccount:${yandex_iam_service_account.gateway.id}"]
}

resource "yandex_function_iam_binding" "callback_invoker" {
  function_id = yandex_function.callback.id
  role        = "functions.functionInvoker"
  members     = ["serviceAccount:${yandex_iam_service_account.gateway.id}"]
}

# --- API Gateway --------------------------------------------------------------

# The spec is deploy/openapi.yaml, rendered with the ids it names.
resource "yandex_api_gateway" "main" {
  name        = "${var.name_prefix}-gateway"
  folder_id   = var.folder_id
  description = "photobot: POST /webhook/telegram -> fn-handler, POST /webhook/replicate -> fn-callback"
  spec = templatefile("${path.module}/../openapi.yaml", {
    fn_handler_id    = yandex_function.handler.id
    fn_callback_id   = yandex_function.callback.id
    invoker_sa_id    = yandex_iam_service_account.gateway.id
    validate_headers = var.validate_webhook_headers
  })

  depends_on = [
    yandex_function_iam_binding.handler_invoker,
    yandex_function_iam_binding.callback_invoker,
  ]
}

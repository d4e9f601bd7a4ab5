# Nothing secret here: tokens and keys stay in Lockbox
# (yc lockbox payload get --id <lockbox_secret_id> --version-id <...> --key <NAME>).

output "gateway_url" {
  description = "https URL of the API Gateway (PUBLIC_URL of the functions once deploy.sh has applied twice)."
  value       = "https://${yandex_api_gateway.main.domain}"
}

output "public_url" {
  description = "PUBLIC_URL the functions have now; differs from gateway_url only after the very first apply."
  value       = local.public_url
}

output "telegram_webhook_url" {
  description = "The bot's webhook, set by photobot setup (setWebhook with the secret token)."
  value       = "https://${yandex_api_gateway.main.domain}/webhook/telegram"
}

output "replicate_webhook_url" {
  description = "Where Replicate posts prediction results."
  value       = "https://${yandex_api_gateway.main.domain}/webhook/replicate"
}

output "bucket" {
  description = "Object Storage bucket of photos and task state."
  value       = yandex_storage_bucket.main.bucket
}

output "fn_handler_id" {
  description = "Id of fn-handler (Telegram's webhook)."
  value       = yandex_function.handler.id
}

output "fn_handler_name" {
  description = "Name of fn-handler, for yc serverless function logs."
  value       = yandex_function.handler.name
}

output "fn_callback_id" {
  description = "Id of fn-callback (Replicate's webhook)."
  value       = yandex_function.callback.id
}

output "fn_callback_name" {
  description = "Name of fn-callback, for yc serverless function logs."
  value       = yandex_function.callback.name
}

output "api_gateway_id" {
  description = "Id of the API Gateway."
  value       = yandex_api_gateway.main.id
}

output "lockbox_secret_id" {
  description = "fn-handler's Lockbox secret (tokens, webhook secrets, its static key), which photobot setup reads."
  value       = yandex_lockbox_secret.handler.id
}

output "lockbox_tokens_version_id" {
  description = "Version of fn-handler's Lockbox secret with TG_BOT_TOKEN, REPLICATE_API_TOKEN, TG_WEBHOOK_SECRET (and REPLICATE_WEBHOOK_SECRET when given)."
  value       = yandex_lockbox_secret_version_hashed.handler_tokens.id
}

output "lockbox_s3_key_version_id" {
  description = "Version of fn-handler's Lockbox secret with its AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (photobot setup uses this key)."
  value       = yandex_iam_service_account_static_access_key.handler.output_to_lockbox_version_id
}

output "function_environment" {
  description = "Plain (non-secret) environment of both functions; deploy.sh gives it to photobot setup."
  value       = local.function_environment
}

output "folder_id" {
  description = "Folder of the deployment (for yc logging read)."
  value       = var.folder_id
}

output "setup_environment" {
  description = "function_environment as NAME=value lines, values urlencode()d: what deploy.sh gives photobot setup and doctor besides the secrets."
  value       = join("\n", [for name, value in local.function_environment : "${name}=${urlencode(value)}"])
}

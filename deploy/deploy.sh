#!/usr/bin/env bash
# Deploy photobot to Yandex Cloud, or tear it down.
#
#   deploy/deploy.sh deploy    package, terraform apply (twice on the first
#                              deploy), photobot setup (bucket checks, webhook)
#   deploy/deploy.sh destroy   deleteWebhook, then terraform destroy
#   deploy/deploy.sh plan      print every command `deploy` would run (same as
#                              DRY_RUN=1 deploy/deploy.sh deploy); no credentials needed
#
# Environment:
#   TG_BOT_TOKEN, REPLICATE_API_TOKEN      required (deploy; destroy needs TG_BOT_TOKEN)
#   YC_TOKEN or YC_SERVICE_ACCOUNT_KEY_FILE  credentials of Terraform; when neither
#                                          is set, YC_TOKEN=$(yc iam create-token)
#   YC_FOLDER_ID                           folder; default: yc config get folder-id
#   YC_CLOUD_ID                            optional
#   REPLICATE_MODEL, REPLICATE_INPUT, REPLICATE_IMAGE_FIELD, LOG_LEVEL,
#   REPLICATE_WEBHOOK_SECRET, TG_WEBHOOK_SECRET, NAME_PREFIX, BUCKET_NAME
#                                          optional; override the Terraform
#                                          defaults (deploy/terraform/variables.tf)
#   DRY_RUN=1                              print the commands instead of running them
#
# Secrets reach Terraform as TF_VAR_* environment variables, never as
# arguments, and every printed command has them masked.
set -euo pipefail

TF_DIR=deploy/terraform
MASK='****'

# --- helpers (bash builtins only, so that DRY_RUN works without any tool) ---

case "${BASH_SOURCE[0]}" in
*/*) script_dir=${BASH_SOURCE[0]%/*} ;;
*) script_dir=. ;;
esac
ROOT=$(cd "$script_dir/.." && pwd)
cd "$ROOT"

DRY=0
case "${DRY_RUN:-0}" in 1 | true | yes) DRY=1 ;; esac

SECRETS=()   # values masked wherever a command is printed
SETUP_LOG="" # photobot setup's output (for the bot's @username)

secret() { # secret VALUE: mask VALUE from now on
	if [[ -n "${1:-}" ]]; then SECRETS+=("$1"); fi
}

mask() {
	local s=$1 v
	for v in "${SECRETS[@]+"${SECRETS[@]}"}"; do
		s=${s//"$v"/$MASK}
	done
	printf '%s' "$s"
}

say() { printf '%s\n' "$(mask "$*")"; }
note() { printf '\n==> %s\n' "$(mask "$*")"; }
warn() { printf 'deploy.sh: %s\n' "$(mask "$*")" >&2; }
die() {
	warn "$*"
	exit 1
}

quote() { # the command as one copy-pasteable line
	local out="" a
	for a in "$@"; do
		if [[ $a =~ ^[-A-Za-z0-9_./=:@,+%]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
	done
	printf '%s' "${out# }"
}

run() { # run CMD...: print it, then run it (unless DRY_RUN)
	say "+ $(quote "$@")"
	if ((DRY)); then return 0; fi
	"$@"
}

capture() { # capture VAR PLACEHOLDER CMD...: VAR=$(CMD) (PLACEHOLDER when DRY_RUN)
	local __var=$1 __placeholder=$2 __out
	shift 2
	say "+ $__var=\$($(quote "$@"))"
	if ((DRY)); then
		printf -v "$__var" '%s' "$__placeholder"
		return 0
	fi
	__out=$("$@")
	printf -v "$__var" '%s' "$__out"
}

setenv() { # setenv NAME VALUE [secret]: export NAME=VALUE, printed (masked if secret)
	local name=$1 value=$2
	if [[ "${3:-}" == secret ]]; then
		secret "$value"
		say "+ export $name=$MASK"
	else
		say "+ export $name=$(quote "$value")"
	fi
	export "$name=$value"
}

tf() { run terraform -chdir="$TF_DIR" "$@"; }
tf_capture() { # tf_capture VAR PLACEHOLDER OUTPUT_NAME
	capture "$1" "$2" terraform -chdir="$TF_DIR" output -raw "$3"
}

# --- prerequisites ------------------------------------------------------------

MISSING=0
need_tool() { # need_tool NAME HOW-TO-GET-IT
	if command -v "$1" >/dev/null 2>&1; then return 0; fi
	if ((DRY)); then
		say "(dry run: $1 is not installed here; a real run needs it: $2)"
	else
		warn "$1 not found: $2"
		MISSING=1
	fi
}

need_env() { # need_env NAME WHAT
	if [[ -n "${!1:-}" ]]; then return 0; fi
	if ((DRY)); then
		say "(dry run: $1 is not set; a real run needs it: $2)"
		printf -v "$1" '<%s>' "$1"
	else
		warn "$1 is not set: $2"
		MISSING=1
	fi
}

check_terraform_version() {
	((DRY)) && return 0
	command -v terraform >/dev/null 2>&1 || return 0
	local first v major minor
	first=$(terraform version 2>/dev/null | head -n 1) || true
	v=${first#*v}
	major=${v%%.*}
	minor=${v#*.}
	minor=${minor%%.*}
	if [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] && ((major == 1 && minor < 5)); then
		warn "terraform $v is too old: 1.5 or newer is needed"
		MISSING=1
	fi
}

yc_credentials() {
	if [[ -n "${YC_TOKEN:-}" || -n "${YC_SERVICE_ACCOUNT_KEY_FILE:-}" ]]; then
		secret "${YC_TOKEN:-}"
		return 0
	fi
	if ((DRY)); then
		say "(dry run: neither YC_TOKEN nor YC_SERVICE_ACCOUNT_KEY_FILE is set; a real run would use YC_TOKEN=\$(yc iam create-token))"
		say "+ export YC_TOKEN=\$(yc iam create-token)"
		return 0
	fi
	if command -v yc >/dev/null 2>&1 && YC_TOKEN=$(yc iam create-token 2>/dev/null) && [[ -n $YC_TOKEN ]]; then
		secret "$YC_TOKEN"
		say "+ export YC_TOKEN=\$(yc iam create-token)"
		export YC_TOKEN
		return 0
	fi
	warn "YC_TOKEN is not set and 'yc iam create-token' failed: run 'yc init', or export YC_TOKEN=\$(yc iam create-token), or YC_SERVICE_ACCOUNT_KEY_FILE=<authorized key JSON>"
	MISSING=1
}

folder() { # sets FOLDER_ID
	FOLDER_ID=${YC_FOLDER_ID:-${TF_VAR_folder_id:-}}
	if [[ -n $FOLDER_ID ]]; then return 0; fi
	if ((DRY)); then
		say "(dry run: YC_FOLDER_ID is not set; a real run takes it from 'yc config get folder-id')"
		FOLDER_ID='<folder-id>'
		return 0
	fi
	if command -v yc >/dev/null 2>&1; then
		FOLDER_ID=$(yc config get folder-id 2>/dev/null) || FOLDER_ID=
	fi
	if [[ -z $FOLDER_ID ]]; then
		warn "no folder: export YC_FOLDER_ID=<folder id> (or set one with yc init)"
		MISSING=1
	fi
}

terraform_vars() { # TF_VAR_* from the environment: secrets never on a command line
	setenv TF_VAR_folder_id "$FOLDER_ID"
	if [[ -n "${YC_CLOUD_ID:-}" ]]; then setenv TF_VAR_cloud_id "$YC_CLOUD_ID"; fi
	setenv TF_VAR_tg_bot_token "$TG_BOT_TOKEN" secret
	setenv TF_VAR_replicate_api_token "$REPLICATE_API_TOKEN" secret
	if [[ -n "${REPLICATE_WEBHOOK_SECRET:-}" ]]; then setenv TF_VAR_replicate_webhook_secret "$REPLICATE_WEBHOOK_SECRET" secret; fi
	if [[ -n "${TG_WEBHOOK_SECRET:-}" ]]; then setenv TF_VAR_tg_webhook_secret "$TG_WEBHOOK_SECRET" secret; fi
	if [[ -n "${REPLICATE_MODEL:-}" ]]; then setenv TF_VAR_replicate_model "$REPLICATE_MODEL"; fi
	if [[ -n "${REPLICATE_INPUT:-}" ]]; then setenv TF_VAR_replicate_input "$REPLICATE_INPUT"; fi
	if [[ -n "${REPLICATE_IMAGE_FIELD:-}" ]]; then setenv TF_VAR_replicate_image_field "$REPLICATE_IMAGE_FIELD"; fi
	if [[ -n "${LOG_LEVEL:-}" ]]; then setenv TF_VAR_log_level "$LOG_LEVEL"; fi
	if [[ -n "${NAME_PREFIX:-}" ]]; then setenv TF_VAR_name_prefix "$NAME_PREFIX"; fi
	if [[ -n "${BUCKET_NAME:-}" ]]; then setenv TF_VAR_bucket_name "$BUCKET_NAME"; fi
	return 0
}

terraform_init() {
	if ! tf init -input=false; then
		warn "terraform init failed. If registry.terraform.io is unreachable from your network, use the Yandex Cloud mirror: https://yandex.cloud/en/docs/tutorials/infrastructure-management/terraform-quickstart"
		exit 1
	fi
}

# --- deploy -------------------------------------------------------------------

deploy() {
	if ((DRY)); then note "dry run: printing the commands of a deploy; nothing is run"; fi
	note "prerequisites"
	need_tool yc "https://yandex.cloud/docs/cli/quickstart (then: yc init)"
	need_tool terraform "Terraform >= 1.5: https://developer.hashicorp.com/terraform/install (or: go install github.com/hashicorp/terraform@v1.5.7)"
	need_tool go "Go >= 1.23: https://go.dev/dl/"
	need_tool make "make (e.g. apt-get install make)"
	check_terraform_version
	need_env TG_BOT_TOKEN "the bot's token from @BotFather"
	need_env REPLICATE_API_TOKEN "a Replicate API token (r8_...): https://replicate.com/account/api-tokens"
	secret "${TG_BOT_TOKEN:-}"
	secret "${REPLICATE_API_TOKEN:-}"
	secret "${REPLICATE_WEBHOOK_SECRET:-}"
	secret "${TG_WEBHOOK_SECRET:-}"
	yc_credentials
	folder
	if ((MISSING)); then die "missing prerequisites (see above); nothing was changed"; fi
	say "ok"

	note "build dist/fn-handler.zip and dist/fn-callback.zip"
	run make package

	note "terraform"
	terraform_vars
	terraform_init

	# PUBLIC_URL cycle (see local.public_url in deploy/terraform/main.tf): the
	# functions need the gateway's URL, the gateway needs the functions. Apply
	# with the URL of an existing gateway (later deploys: one apply); on the
	# first deploy there is none yet, so apply again once it exists.
	local known=""
	say "+ known=\$(terraform -chdir=$TF_DIR output -raw gateway_url 2>/dev/null || true)   # empty on the first deploy"
	if ((!DRY)); then
		known=$(terraform -chdir="$TF_DIR" output -raw gateway_url 2>/dev/null) || known=""
		[[ $known == https://* ]] || known=""
	fi
	tf apply -input=false -auto-approve -var "public_url=$known"

	local gateway_url public_url
	tf_capture gateway_url 'https://<gateway-id>.apigw.yandexcloud.net' gateway_url
	tf_capture public_url "$known" public_url
	if [[ $gateway_url != "$public_url" ]]; then
		note "the functions need PUBLIC_URL=$gateway_url: applying again"
		write_public_url "$gateway_url"
		tf apply -input=false -auto-approve -var "public_url=$gateway_url"
	else
		write_public_url "$gateway_url"
	fi

	note "secrets for photobot setup, from Lockbox"
	local secret_id tokens_version s3_version folder_out handler_name callback_name setup_env
	tf_capture secret_id '<lockbox-secret-id>' lockbox_secret_id
	tf_capture tokens_version '<tokens-version-id>' lockbox_tokens_version_id
	tf_capture s3_version '<s3-key-version-id>' lockbox_s3_key_version_id
	tf_capture folder_out "$FOLDER_ID" folder_id
	tf_capture handler_name "${NAME_PREFIX:-photobot}-fn-handler" fn_handler_name
	tf_capture callback_name "${NAME_PREFIX:-photobot}-fn-callback" fn_callback_name
	tf_capture setup_env $'S3_BUCKET=<bucket>\nS3_ENDPOINT_URL=https://storage.yandexcloud.net\nS3_REGION=ru-central1\nREPLICATE_MODEL=<model>\nREPLICATE_INPUT=<json>\nREPLICATE_IMAGE_FIELD=<field>\nLOG_LEVEL=<level>' setup_environment

	local access_key secret_key webhook_secret
	capture access_key '<AWS_ACCESS_KEY_ID>' yc lockbox payload get --id "$secret_id" --version-id "$s3_version" --key AWS_ACCESS_KEY_ID
	secret "$access_key"
	capture secret_key '<AWS_SECRET_ACCESS_KEY>' yc lockbox payload get --id "$secret_id" --version-id "$s3_version" --key AWS_SECRET_ACCESS_KEY
	secret "$secret_key"
	capture webhook_secret '<TG_WEBHOOK_SECRET>' yc lockbox payload get --id "$secret_id" --version-id "$tokens_version" --key TG_WEBHOOK_SECRET
	secret "$webhook_secret"

	note "photobot setup: bucket checks, lifecycle rules, Replicate model, Telegram webhook"
	local username=""
	if ((!DRY)); then
		SETUP_LOG=$(mktemp)
		trap 'rm -f "$SETUP_LOG"' EXIT
	fi
	(
		local line name
		while IFS= read -r line; do
			# The functions' plain settings, so that setup checks what they run
			# with; PUBLIC_URL and the secrets are set below.
			name=${line%%=*}
			case $name in
			PUBLIC_URL | TG_BOT_TOKEN | REPLICATE_API_TOKEN | TG_WEBHOOK_SECRET | AWS_ACCESS_KEY_ID | AWS_SECRET_ACCESS_KEY | REPLICATE_WEBHOOK_SECRET) ;;
			*) if [[ $name =~ ^[A-Z][A-Z0-9_]*$ ]]; then setenv "$name" "${line#*=}"; fi ;;
			esac
		done <<<"$setup_env"
		setenv PUBLIC_URL "$gateway_url"
		setenv AWS_ACCESS_KEY_ID "$access_key" secret
		setenv AWS_SECRET_ACCESS_KEY "$secret_key" secret
		setenv TG_WEBHOOK_SECRET "$webhook_secret" secret
		setenv TG_BOT_TOKEN "$TG_BOT_TOKEN" secret
		setenv REPLICATE_API_TOKEN "$REPLICATE_API_TOKEN" secret
		if ((DRY)); then
			run go run ./cmd/photobot setup
		else
			say "+ go run ./cmd/photobot setup"
			go run ./cmd/photobot setup | tee "$SETUP_LOG"
		fi
	)
	if ((!DRY)); then
		local line
		while IFS= read -r line; do
			if [[ $line =~ telegram\ bot:\ @([A-Za-z0-9_]+) ]]; then username=${BASH_REMATCH[1]}; fi
		done <"$SETUP_LOG"
	fi

	note "deployed"
	if [[ -n $username ]]; then
		say "Your bot:   https://t.me/$username"
	else
		say "Your bot:   https://t.me/<username> (the 'telegram bot: @...' line of photobot setup)"
	fi
	say "Webhooks:   $gateway_url/webhook/telegram and $gateway_url/webhook/replicate"
	say "Logs:       yc logging read --group-name=default --folder-id=$folder_out --follow"
	say "            yc serverless function logs $handler_name --follow --folder-id=$folder_out"
	say "            yc serverless function logs $callback_name --follow --folder-id=$folder_out"
	say "Webhook:    curl -s \"https://api.telegram.org/bot\$TG_BOT_TOKEN/getWebhookInfo\""
	say "Check:      the same environment as setup, then: go run ./cmd/photobot doctor"
	say "Tear down:  make destroy"
}

write_public_url() { # public_url.auto.tfvars: a hand-run terraform apply keeps PUBLIC_URL
	local file="$TF_DIR/public_url.auto.tfvars"
	say "+ echo 'public_url = \"$1\"' > $file"
	if ((!DRY)); then printf 'public_url = "%s"\n' "$1" >"$file"; fi
}

# --- destroy ------------------------------------------------------------------

destroy() {
	if ((DRY)); then note "dry run: printing the commands of a destroy; nothing is run"; fi
	note "prerequisites"
	need_tool terraform "Terraform >= 1.5: https://developer.hashicorp.com/terraform/install"
	need_tool curl "curl (e.g. apt-get install curl)"
	check_terraform_version
	need_env TG_BOT_TOKEN "the bot's token, to delete its webhook"
	secret "${TG_BOT_TOKEN:-}"
	secret "${REPLICATE_API_TOKEN:-}"
	yc_credentials
	if [[ ! -f dist/fn-handler.zip || ! -f dist/fn-callback.zip ]]; then
		# Terraform reads the zips' hashes even to plan a destroy.
		need_tool go "Go >= 1.23 (to rebuild dist/*.zip, which Terraform reads)"
		need_tool make "make"
	fi
	# The folder of the deployment: YC_FOLDER_ID, else the state's, else yc's.
	if [[ -z "${YC_FOLDER_ID:-}" ]] && ((!DRY)) && command -v terraform >/dev/null 2>&1; then
		YC_FOLDER_ID=$(terraform -chdir="$TF_DIR" output -raw folder_id 2>/dev/null) || YC_FOLDER_ID=""
	fi
	folder
	if ((MISSING)); then die "missing prerequisites (see above); nothing was changed"; fi
	say "ok"

	note "delete the Telegram webhook (Telegram stops sending updates)"
	say "+ curl -fsS -X POST https://api.telegram.org/bot$MASK/deleteWebhook"
	if ((!DRY)); then
		# The token goes to curl on stdin (-K -), not on its command line.
		local answer
		if answer=$(curl -fsS --max-time 30 -X POST -K - <<<"url = \"https://api.telegram.org/bot${TG_BOT_TOKEN}/deleteWebhook\"" 2>&1); then
			say "$answer"
		else
			warn "deleteWebhook failed ($(mask "$answer")); destroying anyway"
		fi
	fi

	if [[ ! -f dist/fn-handler.zip || ! -f dist/fn-callback.zip ]]; then
		run make package
	fi

	note "terraform destroy"
	# Destroy needs the variables without defaults; their values do not matter
	# any more (REPLICATE_API_TOKEN may be unset by now).
	: "${REPLICATE_API_TOKEN:=unused-by-destroy}"
	terraform_vars
	terraform_init
	tf destroy -input=false -auto-approve
	run rm -f "$TF_DIR/public_url.auto.tfvars"
	note "destroyed"
}

usage() {
	cat <<'EOF'
usage: deploy/deploy.sh deploy|destroy|plan
  deploy   package, terraform apply, photobot setup (sets the Telegram webhook)
  destroy  delete the Telegram webhook, then terraform destroy
  plan     print the commands of a deploy without running anything (DRY_RUN=1)
EOF
}

case "${1:-}" in
deploy) deploy ;;
destroy) destroy ;;
plan | dry-run)
	DRY=1
	deploy
	;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac

#!/usr/bin/env bash
# Deploy photobot to Yandex Cloud, check it, or tear it down.
#
#   deploy/deploy.sh deploy    terraform init, a preflight check of the tokens
#                              and models, package, terraform apply (twice on
#                              the first deploy), photobot setup (bucket
#                              checks, webhook); each step numbered
#   deploy/deploy.sh doctor    photobot doctor with the deployed environment
#                              (Terraform outputs and Lockbox); changes nothing
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
#   EFFECTS (or EFFECTS_FILE, a file holding it), RESULT_AS, DEFAULT_EFFECT,
#   BOT_ABOUT, REPLICATE_WEBHOOK_SECRET, TG_WEBHOOK_SECRET, NAME_PREFIX,
#   BUCKET_NAME                            optional; override the Terraform
#                                          defaults (deploy/terraform/variables.tf)
#   PHOTOBOT                               the photobot binary to run; default:
#                                          go run ./cmd/photobot
#   DRY_RUN=1                              print the commands instead of running them
#
# Secrets reach Terraform as TF_VAR_* environment variables, never as
# arguments, and every printed command has them masked. Written for bash 3.2
# (macOS) and newer: no associative arrays, no mapfile.
set -euo pipefail

TF_DIR=deploy/terraform
MASK='****'
# Yandex Cloud limits a function's environment (names and values, Lockbox
# secrets included) to 4 KB.
ENV_LIMIT=4096
# Every variable photobot reads (config.Vars; deploy/script_test.go checks
# the list). photobot setup, doctor and the preflight run with the deployed
# values of these only, not with whatever else the caller's shell has.
PHOTOBOT_VARS="TG_BOT_TOKEN REPLICATE_API_TOKEN REPLICATE_MODEL REPLICATE_INPUT REPLICATE_IMAGE_FIELD
REPLICATE_WEBHOOK_SECRET REPLICATE_PROMPT_FIELD PREDICTION_DEADLINE ALLOWED_USERS ADMIN_USERS
MAX_ACTIVE_PER_USER DAILY_LIMIT_PER_USER S3_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
S3_ENDPOINT_URL S3_REGION PUBLIC_URL TG_WEBHOOK_SECRET TELEGRAM_API_URL REPLICATE_API_URL PORT
DATA_DIR LOG_LEVEL EFFECTS EFFECTS_FILE RESULT_AS DEFAULT_EFFECT BOT_ABOUT REPLICATE_TITLE
REPLICATE_COST_PER_SECOND RESULT_HOSTS PRICE_STARS FREE_PER_DAY STAR_PACKS PAY_SUPPORT TERMS"
# The plain settings that reach both functions through Terraform's
# extra_environment, each when set: the access list, the limits, payments...
# Adding a setting to the deploy is adding its name here (and to the
# validation of var.extra_environment). A private bot must never deploy
# public: deploy/script_test.go checks that each of these set in the
# environment reaches the functions.
PASSTHROUGH_VARS="ALLOWED_USERS ADMIN_USERS MAX_ACTIVE_PER_USER DAILY_LIMIT_PER_USER REPLICATE_PROMPT_FIELD
PREDICTION_DEADLINE TELEGRAM_API_URL REPLICATE_API_URL REPLICATE_TITLE REPLICATE_COST_PER_SECOND RESULT_HOSTS
PRICE_STARS FREE_PER_DAY STAR_PACKS PAY_SUPPORT TERMS"

# --- helpers (bash builtins only, so that DRY_RUN works without any tool) ---

START_DIR=$PWD # EFFECTS_FILE may be relative to it
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
STEPS=0      # how many steps the command has
STEP=""      # the step running now, "N/STEPS (name)"
STEP_STATE="" # what exists, and what to do, should it fail

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

# step N NAME STATE: announce step N of STEPS; STATE is what the failure
# message says exists and how to go on, should this step fail.
step() {
	STEP="$1/$STEPS ($2)"
	STEP_STATE=$3
	note "step $1/$STEPS: $2"
}

on_exit() {
	local rc=$?
	if [[ -n $SETUP_LOG ]]; then rm -f "$SETUP_LOG"; fi
	if ((rc != 0)) && [[ -n $STEP ]]; then
		printf '\n' >&2
		warn "step $STEP failed. $STEP_STATE"
	fi
	exit "$rc"
}
trap on_exit EXIT

# quote ARGS...: the command as one line that bash (3.2 and newer) reads
# back as the same words. Single quotes around anything unusual, a single
# quote inside written as '\''. (A ${a//\'/...} substitution would be
# shorter, but bash 3.2 and 4.x+ disagree on quotes in its replacement.)
quote() {
	local out="" a q rest
	for a in "$@"; do
		if [[ $a =~ ^[-A-Za-z0-9_./=:@,+%]+$ ]]; then
			out+=" $a"
			continue
		fi
		q=""
		rest=$a
		while [[ $rest == *\'* ]]; do
			q+=${rest%%\'*}"'\\''"
			rest=${rest#*\'}
		done
		out+=" '$q$rest'"
	done
	printf '%s' "${out# }"
}

# urldecode VAR TEXT: VAR=TEXT decoded from Terraform's urlencode() (+ is
# a space, %XX a byte).
urldecode() {
	local s pct=% bx='\x'
	s=${2//+/ }
	s=${s//$pct/$bx}
	printf -v "$1" '%b' "$s"
}

# decode_env TEXT: TEXT's NAME=<urlencoded value> words (or lines) into the
# arrays ENV_NAMES and ENV_VALUES.
decode_env() {
	ENV_NAMES=()
	ENV_VALUES=()
	local w name value nl=$'\n' text
	text=${1// /$nl}
	while IFS= read -r w; do
		[[ -n $w ]] || continue
		name=${w%%=*}
		if [[ $w != *=* || ! $name =~ ^[A-Z][A-Z0-9_]*$ ]]; then
			warn "unexpected setting from terraform: $(quote "$w")"
			continue
		fi
		urldecode value "${w#*=}"
		ENV_NAMES+=("$name")
		ENV_VALUES+=("$value")
	done <<<"$text"
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

# clean_env: unset every variable photobot reads (in a subshell, before
# setting the deployed ones).
clean_env() {
	local list
	list=$(printf '%s ' $PHOTOBOT_VARS)
	say "+ unset ${list% }"
	# shellcheck disable=SC2086 # a list of names
	unset $PHOTOBOT_VARS
}

# photobot ARGS...: run photobot (go run ./cmd/photobot, or $PHOTOBOT), its
# output masked line by line and kept in SETUP_LOG when that is set.
photobot() {
	local cmd=(go run ./cmd/photobot)
	if [[ -n "${PHOTOBOT:-}" ]]; then cmd=("$PHOTOBOT"); fi
	say "+ $(quote "${cmd[@]}" "$@")"
	if ((DRY)); then return 0; fi
	"${cmd[@]}" "$@" 2>&1 | masked
}

masked() { # copy stdin to stdout, secrets masked (and to SETUP_LOG if set)
	local line
	while IFS= read -r line || [[ -n $line ]]; do
		line=$(mask "$line")
		printf '%s\n' "$line"
		if [[ -n $SETUP_LOG ]]; then printf '%s\n' "$line" >>"$SETUP_LOG"; fi
	done
}

# offline_check: a dry run still checks the configuration as photobot does
# at start (a malformed EFFECTS_FILE, a model beside EFFECTS...), with no
# network call, when photobot can be run here.
offline_check() {
	if [[ -z "${PHOTOBOT:-}" ]] && ! command -v go >/dev/null; then
		warn "go is not installed here: the dry run did not check the configuration (photobot doctor -mode preflight -offline does)"
		return 0
	fi
	say "checking the configuration offline, as photobot does at start…"
	DRY=0 photobot doctor -mode preflight -offline || die "the configuration has the problems above: fix them, then run the deploy again"
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

need_photobot() { # the tool that runs photobot
	if [[ -n "${PHOTOBOT:-}" ]]; then
		need_tool "$PHOTOBOT" "PHOTOBOT names the photobot binary to run (unset it to use go run ./cmd/photobot)"
	else
		need_tool go "Go >= 1.23: https://go.dev/dl/"
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

# effects_settings: EFFECTS_FILE read into EFFECTS (a path means nothing
# inside a function); EFFECTS_PATH is the file's absolute path.
EFFECTS_PATH=""
effects_settings() {
	if [[ -n "${EFFECTS_FILE:-}" ]]; then
		if [[ -n "${EFFECTS:-}" ]]; then
			warn "EFFECTS and EFFECTS_FILE are both set: set one of them"
			MISSING=1
			return 0
		fi
		EFFECTS_PATH=$EFFECTS_FILE
		[[ $EFFECTS_PATH == /* ]] || EFFECTS_PATH=$START_DIR/$EFFECTS_PATH
		if [[ ! -f $EFFECTS_PATH || ! -r $EFFECTS_PATH ]]; then
			warn "EFFECTS_FILE=$EFFECTS_FILE: cannot read $EFFECTS_PATH"
			MISSING=1
			return 0
		fi
		EFFECTS=$(<"$EFFECTS_PATH")
		if [[ -z $EFFECTS ]]; then
			warn "EFFECTS_FILE=$EFFECTS_FILE is empty: it should hold the JSON array of effects"
			MISSING=1
		fi
	fi
	case "${RESULT_AS:-}" in
	"" | photo | document | both) ;;
	*)
		warn "RESULT_AS=$RESULT_AS: want photo, document or both"
		MISSING=1
		;;
	esac
}

# hcl_string VALUE: VALUE as an HCL string literal, so that Terraform reads
# it back byte for byte (no ${...} or %{...} template is evaluated).
hcl_string() {
	# A character at a time: ${v//...} quoting differs between bash versions.
	local v=$1 out="" c i
	for ((i = 0; i < ${#v}; i++)); do
		c=${v:i:1}
		case $c in
		'\') out+='\\' ;;
		'"') out+='\"' ;;
		$'\n') out+='\n' ;;
		$'\r') out+='\r' ;;
		$'\t') out+='\t' ;;
		'$' | '%') if [[ ${v:i+1:1} == '{' ]]; then out+=$c$c; else out+=$c; fi ;;
		*) out+=$c ;;
		esac
	done
	printf '"%s"' "$out"
}

# extra_environment: TF_VAR_extra_environment, an HCL map of the
# PASSTHROUGH_VARS that are set (none of them secret).
extra_environment() {
	local name map=""
	for name in $PASSTHROUGH_VARS; do
		if [[ -n "${!name:-}" ]]; then map+="$name = $(hcl_string "${!name}"), "; fi
	done
	if [[ -n $map ]]; then setenv TF_VAR_extra_environment "{ ${map%, } }"; fi
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
	if [[ -n $EFFECTS_PATH ]]; then
		say "+ export TF_VAR_effects=\"\$(cat $(quote "$EFFECTS_PATH"))\""
		export TF_VAR_effects="$EFFECTS"
	elif [[ -n "${EFFECTS:-}" ]]; then
		setenv TF_VAR_effects "$EFFECTS"
	fi
	if [[ -n "${RESULT_AS:-}" ]]; then setenv TF_VAR_result_as "$RESULT_AS"; fi
	if [[ -n "${DEFAULT_EFFECT:-}" ]]; then setenv TF_VAR_default_effect "$DEFAULT_EFFECT"; fi
	if [[ -n "${BOT_ABOUT:-}" ]]; then setenv TF_VAR_bot_about "$BOT_ABOUT"; fi
	extra_environment
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

# tf_default NAME: the default of Terraform variable NAME, read from
# variables.tf with bash alone (a dry run needs no tool).
tf_default() {
	local line in=0 re='^[[:space:]]*default[[:space:]]*=[[:space:]]*"(.*)"[[:space:]]*$'
	while IFS= read -r line; do
		if [[ $line == "variable \"$1\" {" ]]; then in=1; fi
		if ((in)) && [[ $line =~ $re ]]; then
			line=${BASH_REMATCH[1]}
			printf '%s' "${line//\\\"/\"}"
			return 0
		fi
		if ((in)) && [[ $line == "}" ]]; then return 0; fi
	done <"$TF_DIR/variables.tf"
}

# settings: the functions' plain settings as Terraform will deploy them
# (variables, terraform.tfvars, defaults), before anything exists: local
# settings_encoded of main.tf, through terraform console. Sets SETTING_NAMES
# and SETTING_VALUES.
settings() {
	local encoded=""
	say "+ settings=\$(echo local.settings_encoded | terraform -chdir=$TF_DIR console)"
	if ((DRY)); then
		# What the environment says; the Terraform defaults stand in for the rest.
		SETTING_NAMES=(S3_ENDPOINT_URL S3_REGION LOG_LEVEL)
		SETTING_VALUES=(https://storage.yandexcloud.net ru-central1 "${LOG_LEVEL:-$(tf_default log_level)}")
		if [[ -z "${EFFECTS:-}" ]]; then # photobot refuses a model beside EFFECTS, and so does main.tf
			SETTING_NAMES+=(REPLICATE_MODEL REPLICATE_INPUT REPLICATE_IMAGE_FIELD)
			SETTING_VALUES+=("${REPLICATE_MODEL:-$(tf_default replicate_model)}" "${REPLICATE_INPUT:-$(tf_default replicate_input)}"
				"${REPLICATE_IMAGE_FIELD:-$(tf_default replicate_image_field)}")
		fi
		local name
		# shellcheck disable=SC2086 # a list of names
		for name in EFFECTS RESULT_AS DEFAULT_EFFECT BOT_ABOUT $PASSTHROUGH_VARS; do
			if [[ -n "${!name:-}" ]]; then
				SETTING_NAMES+=("$name")
				SETTING_VALUES+=("${!name}")
			fi
		done
		return 0
	fi
	local out line
	out=$(printf '%s\n' local.settings_encoded | terraform -chdir="$TF_DIR" console)
	# console prints the string quoted; urlencode() left nothing to escape.
	while IFS= read -r line; do
		if [[ $line =~ ^\"(.*)\"$ ]]; then encoded=${BASH_REMATCH[1]}; fi
	done <<<"$out"
	if [[ -z $encoded ]]; then die "terraform console printed no settings: $(quote "$out")"; fi
	decode_env "$encoded"
	# (x[@]+...: an empty array is "unbound" under set -u in bash < 4.4)
	SETTING_NAMES=(${ENV_NAMES[@]+"${ENV_NAMES[@]}"})
	SETTING_VALUES=(${ENV_VALUES[@]+"${ENV_VALUES[@]}"})
}

# check_env_size: refuse an environment over ENV_LIMIT. The plain settings
# are exact; the bucket's name, the gateway's URL and the bucket's key are
# counted at their longest, the other secrets at their known lengths.
check_env_size() {
	local LC_ALL=C # ${#v} counts bytes
	local total=0 big="" i name value n
	for ((i = 0; i < ${#SETTING_NAMES[@]}; i++)); do
		name=${SETTING_NAMES[i]}
		value=${SETTING_VALUES[i]}
		n=$((${#name} + ${#value}))
		total=$((total + n))
		if ((n > 256)); then big+=", $name $n"; fi
	done
	total=$((total + ${#TG_BOT_TOKEN} + ${#REPLICATE_API_TOKEN}))
	if [[ -n "${REPLICATE_WEBHOOK_SECRET:-}" ]]; then
		total=$((total + ${#REPLICATE_WEBHOOK_SECRET} + 24))
	fi
	if [[ -n "${TG_WEBHOOK_SECRET:-}" ]]; then
		total=$((total + ${#TG_WEBHOOK_SECRET}))
	else
		total=$((total + 48)) # random_password.tg_webhook_secret
	fi
	# Names of the secrets, S3_BUCKET (at most 63), PUBLIC_URL
	# (https://<20>.apigw.yandexcloud.net), the static key (25 and 40).
	total=$((total + 12 + 19 + 17 + 9 + 63 + 10 + 50 + 17 + 25 + 21 + 40))
	say "the functions' environment: about $total of $ENV_LIMIT bytes (names and values, Lockbox secrets included)"
	if ((total > ENV_LIMIT)); then
		die "the functions' environment would take about $total bytes, over Yandex Cloud's limit of $ENV_LIMIT (names and values of all variables, Lockbox secrets included)${big:+; the largest:${big#,}}. Shorten them (EFFECTS: fewer effects, shorter titles, descriptions and inputs; BOT_ABOUT) and run make deploy again."
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
	if [[ -n "${PHOTOBOT:-}" ]]; then need_photobot; fi
	check_terraform_version
	need_env TG_BOT_TOKEN "the bot's token from @BotFather"
	need_env REPLICATE_API_TOKEN "a Replicate API token (r8_...): https://replicate.com/account/api-tokens"
	secret "${TG_BOT_TOKEN:-}"
	secret "${REPLICATE_API_TOKEN:-}"
	secret "${REPLICATE_WEBHOOK_SECRET:-}"
	secret "${TG_WEBHOOK_SECRET:-}"
	effects_settings
	yc_credentials
	folder
	if ((MISSING)); then die "missing prerequisites (see above); nothing was changed"; fi
	say "ok"

	local nothing="Nothing was created. Fix the cause and run \`make deploy\` again."
	local resume="Fix the cause and run \`make deploy\` again (it resumes), or \`make destroy\` to remove it all."
	STEPS=7

	step 1 "terraform init" "$nothing"
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

	step 2 "preflight: tokens, models, size of the environment" "Nothing was created. Fix what the lines above say and run \`make deploy\` again."
	say "checking the tokens and models before creating anything billable…"
	settings
	check_env_size
	(
		local tg=$TG_BOT_TOKEN replicate=$REPLICATE_API_TOKEN i
		clean_env
		setenv TG_BOT_TOKEN "$tg" secret
		setenv REPLICATE_API_TOKEN "$replicate" secret
		for ((i = 0; i < ${#SETTING_NAMES[@]}; i++)); do
			setenv "${SETTING_NAMES[i]}" "${SETTING_VALUES[i]}"
		done
		photobot doctor -mode preflight
		if ((DRY)); then offline_check; fi
	)

	step 3 "build dist/fn-handler.zip and dist/fn-callback.zip" "$nothing"
	run make package

	local created
	if [[ -n $known ]]; then
		created="The deployment from before is still there, possibly partly updated: terraform -chdir=$TF_DIR state list shows what exists. $resume"
	else
		created="Terraform may have created part of the deployment (nothing calls it yet: the Telegram webhook is set only by the last step); terraform -chdir=$TF_DIR state list shows what exists. $resume"
	fi
	step 4 "terraform apply" "$created"
	tf apply -input=false -auto-approve -var "public_url=$known"

	local gateway_url public_url
	tf_capture gateway_url 'https://<gateway-id>.apigw.yandexcloud.net' gateway_url
	tf_capture public_url "$known" public_url
	created="Already created: everything of the first apply (bucket, functions, gateway, secrets); the functions lack PUBLIC_URL, and nothing calls them yet (the Telegram webhook is set only by the last step). $resume"
	if [[ $gateway_url != "$public_url" ]]; then
		step 5 "terraform apply, second pass" "$created"
		say "the functions need PUBLIC_URL=$gateway_url: applying again"
		write_public_url "$gateway_url"
		tf apply -input=false -auto-approve -var "public_url=$gateway_url"
	else
		step 5 "terraform apply, second pass: not needed, the functions have PUBLIC_URL=$gateway_url" "$created"
		write_public_url "$gateway_url"
	fi

	created="Already created: everything (bucket, functions, gateway, secrets); only photobot setup (bucket checks, lifecycle rules, the Telegram webhook) has not run yet, so Telegram may not be calling the bot. $resume"
	step 6 "secrets for photobot setup, from Lockbox" "$created Reading Lockbox needs yc (yc init) and lockbox.payloadViewer on the secret."
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

	step 7 "photobot setup: bucket checks, lifecycle rules, Replicate model, Telegram webhook" "$created"
	local username=""
	if ((!DRY)); then SETUP_LOG=$(mktemp); fi
	(
		local tg=$TG_BOT_TOKEN replicate=$REPLICATE_API_TOKEN i
		clean_env
		# The functions' plain settings, so that setup checks what they run
		# with; PUBLIC_URL and the secrets are set below.
		decode_env "$setup_env"
		if ((DRY)); then # what Terraform will have deployed: the settings of step 2
			ENV_NAMES=(S3_BUCKET "${SETTING_NAMES[@]}")
			ENV_VALUES=('<bucket>' "${SETTING_VALUES[@]}")
		fi
		for ((i = 0; i < ${#ENV_NAMES[@]}; i++)); do
			case ${ENV_NAMES[i]} in
			PUBLIC_URL | TG_BOT_TOKEN | REPLICATE_API_TOKEN | TG_WEBHOOK_SECRET | AWS_ACCESS_KEY_ID | AWS_SECRET_ACCESS_KEY | REPLICATE_WEBHOOK_SECRET) ;;
			*) setenv "${ENV_NAMES[i]}" "${ENV_VALUES[i]}" ;;
			esac
		done
		setenv PUBLIC_URL "$gateway_url"
		setenv AWS_ACCESS_KEY_ID "$access_key" secret
		setenv AWS_SECRET_ACCESS_KEY "$secret_key" secret
		setenv TG_WEBHOOK_SECRET "$webhook_secret" secret
		setenv TG_BOT_TOKEN "$tg" secret
		setenv REPLICATE_API_TOKEN "$replicate" secret
		photobot setup
	)
	if ((!DRY)); then
		local line
		while IFS= read -r line; do
			if [[ $line =~ telegram\ bot:\ @([A-Za-z0-9_]+) ]]; then username=${BASH_REMATCH[1]}; fi
		done <"$SETUP_LOG"
	fi
	STEP=""

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
	say "Check:      make doctor (photobot doctor with the deployed environment)"
	say "Tear down:  make destroy"
}

write_public_url() { # public_url.auto.tfvars: a hand-run terraform apply keeps PUBLIC_URL
	local file="$TF_DIR/public_url.auto.tfvars"
	say "+ echo 'public_url = \"$1\"' > $file"
	if ((!DRY)); then printf 'public_url = "%s"\n' "$1" >"$file"; fi
}

# --- doctor -------------------------------------------------------------------

# doctor: photobot doctor -mode serve with the environment the functions
# have: the plain part from the Terraform outputs, the secrets from Lockbox.
doctor() {
	if ((DRY)); then note "dry run: printing the commands of doctor; nothing is run"; fi
	note "prerequisites"
	need_tool terraform "Terraform >= 1.5: https://developer.hashicorp.com/terraform/install"
	need_tool yc "https://yandex.cloud/docs/cli/quickstart (then: yc init)"
	need_photobot
	if ((MISSING)); then die "missing prerequisites (see above)"; fi
	say "ok"

	STEPS=3
	step 1 "the deployed settings, from the Terraform outputs" "Doctor changed nothing. Is there a deployment (make deploy), with its state in $TF_DIR/terraform.tfstate?"
	local secret_id tokens_version s3_version gateway_url setup_env
	tf_capture secret_id '<lockbox-secret-id>' lockbox_secret_id
	tf_capture tokens_version '<tokens-version-id>' lockbox_tokens_version_id
	tf_capture s3_version '<s3-key-version-id>' lockbox_s3_key_version_id
	tf_capture gateway_url 'https://<gateway-id>.apigw.yandexcloud.net' gateway_url
	tf_capture setup_env $'S3_BUCKET=<bucket>\nPUBLIC_URL=https://<gateway-id>.apigw.yandexcloud.net\nREPLICATE_MODEL=<model>' setup_environment

	step 2 "the secrets, from Lockbox" "Doctor changed nothing. Reading Lockbox needs yc (yc init) and lockbox.payloadViewer on the secret."
	local names=(TG_BOT_TOKEN REPLICATE_API_TOKEN TG_WEBHOOK_SECRET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY)
	local versions=("$tokens_version" "$tokens_version" "$tokens_version" "$s3_version" "$s3_version")
	local values=() value i
	for ((i = 0; i < ${#names[@]}; i++)); do
		capture value "<${names[i]}>" yc lockbox payload get --id "$secret_id" --version-id "${versions[i]}" --key "${names[i]}"
		secret "$value"
		values+=("$value")
	done
	# Only when it was given to the deploy; otherwise the functions fetch it.
	say "+ value=\$($(quote yc lockbox payload get --id "$secret_id" --version-id "$tokens_version" --key REPLICATE_WEBHOOK_SECRET) 2>/dev/null || true)"
	value=""
	if ((!DRY)); then
		value=$(yc lockbox payload get --id "$secret_id" --version-id "$tokens_version" --key REPLICATE_WEBHOOK_SECRET 2>/dev/null) || value=""
	fi
	if [[ -n $value ]]; then
		secret "$value"
		names+=(REPLICATE_WEBHOOK_SECRET)
		values+=("$value")
	fi

	step 3 "photobot doctor -mode serve, with the deployed environment" "Doctor changed nothing; the lines above say what is wrong. Fix it and run \`make deploy\`, then \`make doctor\` again."
	(
		clean_env
		decode_env "$setup_env"
		for ((i = 0; i < ${#ENV_NAMES[@]}; i++)); do
			setenv "${ENV_NAMES[i]}" "${ENV_VALUES[i]}"
		done
		if [[ -z "${PUBLIC_URL:-}" ]]; then
			# The first apply's functions have none: the deploy stopped early.
			say "(the functions have no PUBLIC_URL yet: the deploy did not finish; checking with the gateway's URL)"
			setenv PUBLIC_URL "$gateway_url"
		fi
		for ((i = 0; i < ${#names[@]}; i++)); do
			setenv "${names[i]}" "${values[i]}" secret
		done
		photobot doctor -mode serve
	)
	STEP=""
	note "doctor: no problems found"
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

	STEPS=3
	step 1 "delete the Telegram webhook (Telegram stops sending updates)" "Nothing was removed. Fix the cause and run \`make destroy\` again."
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

	step 2 "terraform init" "The webhook is deleted; everything else is still there. Fix the cause and run \`make destroy\` again."
	if [[ ! -f dist/fn-handler.zip || ! -f dist/fn-callback.zip ]]; then
		run make package
	fi
	# Destroy needs the variables without defaults; their values do not matter
	# any more (REPLICATE_API_TOKEN may be unset by now).
	: "${REPLICATE_API_TOKEN:=unused-by-destroy}"
	terraform_vars
	terraform_init

	step 3 "terraform destroy" "The webhook is deleted; part of the deployment may remain (terraform -chdir=$TF_DIR state list shows what). Fix the cause and run \`make destroy\` again."
	tf destroy -input=false -auto-approve
	run rm -f "$TF_DIR/public_url.auto.tfvars"
	STEP=""
	note "destroyed"
}

usage() {
	cat <<'EOF'
usage: deploy/deploy.sh deploy|doctor|destroy|plan
  deploy   preflight check, package, terraform apply, photobot setup (sets the Telegram webhook)
  doctor   photobot doctor with the deployed environment (Terraform outputs, Lockbox); changes nothing
  destroy  delete the Telegram webhook, then terraform destroy
  plan     print the commands of a deploy without running anything (DRY_RUN=1)
EOF
}

# Sourced (the tests do, to call quote and urldecode): define, run nothing.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
	trap - EXIT
	return 0
fi

case "${1:-}" in
deploy) deploy ;;
doctor) doctor ;;
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

package deploy_test

// Tests of deploy.sh: its quoting and decoding helpers, dry runs, and real
// runs against a fake cloud (stand-ins for yc, terraform, go, make, curl
// and photobot), each under the bash here and under BASH_COMPAT=3.2 (macOS
// ships bash 3.2).

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/photobot/photobot/config"
)

var fakeSecrets = map[string]string{
	"TG_BOT_TOKEN":             "123456789:AAHfakeTOKENdoNotPrint_xyz",
	"REPLICATE_API_TOKEN":      "r8_fakeReplicateTokenDoNotPrint",
	"REPLICATE_WEBHOOK_SECRET": "whsec_ZmFrZXdlYmhvb2tzZWNyZXQ=",
	"TG_WEBHOOK_SECRET":        "fakeGivenWebhookSecret_123",
}

// bashModes: deploy.sh must work the same under both.
var bashModes = []struct {
	name string
	env  []string
}{
	{"bash", nil},
	{"bash3.2", []string{"BASH_COMPAT=3.2"}},
}

func bash(t *testing.T) string { return tool(t, "bash") }

// tool finds a command the test needs. In CI a missing one fails the test
// (.ci/run installs Terraform); on a developer's machine it skips, saying
// what to install (make tools).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no %s in CI: .ci/run must install it", name)
		}
		t.Skipf("no %s here (make tools installs Terraform)", name)
	}
	return p
}

// runScript runs script (deploy.sh) with exactly env, and returns its output.
func runScript(t *testing.T, script string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bash(t), append([]string{script}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sourced runs a bash snippet with deploy.sh's functions defined (the
// script runs nothing when sourced), with args as $1...
func sourced(t *testing.T, env []string, snippet string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bash(t), append([]string{"-c", "source ./deploy.sh && " + snippet, "snippet"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bash %q: %v\n%s", snippet, err, stderr.Bytes())
	}
	return out
}

func assertNoSecret(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for i, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("output reveals secret #%d of %d", i+1, len(secrets))
		}
	}
}

// tricky are strings that quoting and decoding must keep intact.
var tricky = []string{
	`{"prompt": "it's"}`, "it's", "'", "''", `"`, `$HOME`, "${HOME}", "`date`", "$(date)", `\`, `\\'`, `a\nb`,
	"a b", "a\nb", "\n", "", "*", "?", "[a]", "~", "~/x", "!x", "a\tb", "Привет, мир", "-n", "x=y;z", "&", `\&`,
	"a|b", "#c", "%41", "a+b", "50%", "\x01", "'\"'\"'",
}

// quote's output, eval'ed by bash (3.2 too), gives back the same words.
func TestQuoteRoundTrip(t *testing.T) {
	for _, mode := range bashModes {
		t.Run(mode.name, func(t *testing.T) {
			// All at once: the words must also stay apart.
			line := sourced(t, mode.env, `quote "$@"`, tricky...)
			back := sourced(t, mode.env, `eval "set -- $1"; printf '%s\0' "$@"`, string(line))
			got := strings.Split(string(back), "\x00")
			got = got[:len(got)-1]
			if !slices.Equal(got, tricky) {
				t.Errorf("quote + eval changed the words:\n line: %s\n got:  %q\n want: %q", line, got, tricky)
			}
			// The line README users paste: the example of the bug.
			if got := string(sourced(t, mode.env, `quote "$1"`, `{"prompt": "it's"}`)); got != `'{"prompt": "it'\''s"}'` {
				t.Errorf("quote {\"prompt\": \"it's\"} = %s", got)
			}
			if got := string(sourced(t, mode.env, `quote "$@"`, "plain", "a b", "")); got != `plain 'a b' ''` {
				t.Errorf("quote plain 'a b' '' = %s", got)
			}
		})
	}
}

// The settings travel from Terraform to deploy.sh as NAME=<urlencode()d
// value> words (local.settings_encoded, output setup_environment): encoded
// by Terraform itself here, decoded by deploy.sh's decode_env.
func TestSettingsEncodingRoundTrip(t *testing.T) {
	tf := tool(t, "terraform")
	c := loadTerraform(t)
	settingsEnv, settingsEnc := c.locals["settings_environment"], c.locals["settings_encoded"]
	setupOut := c.outputs["setup_environment"]
	if settingsEnv == nil || settingsEnc == nil || setupOut == nil {
		t.Fatal("want locals settings_environment and settings_encoded, and output setup_environment")
	}
	dir := t.TempDir()
	vars, err := os.ReadFile("terraform/variables.tf")
	if err != nil {
		t.Fatal(err)
	}
	// The real expressions, with a stand-in for what exists only after an apply.
	locals := "locals {\n" +
		"  settings_environment = " + c.text(settingsEnv.Expr) + "\n" +
		"  settings_encoded = " + c.text(settingsEnc.Expr) + "\n" +
		"  function_environment = merge(local.settings_environment, { S3_BUCKET = \"photobot-0a1b2c3d\", PUBLIC_URL = \"https://d5d.apigw.yandexcloud.net\" })\n" +
		"  setup_environment = " + c.text(attr(setupOut, "value")) + "\n" +
		"}\n"
	for name, data := range map[string]string{"variables.tf": string(vars), "locals.tf": locals} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	effects := "[\n  {\"id\": \"upscale\", \"title\": {\"en\": \"Upscale\", \"ru\": \"Увеличить\"},\n   \"input\": {\"prompt\": \"it's \\\"sharp\\\"\", \"path\": \"C:\\\\dir\", \"pct\": \"100% + 1\"}}\n]"
	about := "It's a bot.\nSecond line: \"quoted\", $HOME, ${x}, %{y}, 50% & <b>, back\\slash\ttab"
	var lines []string
	for _, expr := range []string{"local.settings_encoded", `replace(local.setup_environment, "\n", " ")`} {
		cmd := exec.Command(tf, "console")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+os.DevNull, "CHECKPOINT_DISABLE=1",
			"TF_VAR_folder_id=b1g", "TF_VAR_tg_bot_token=1:a", "TF_VAR_replicate_api_token=r8_x",
			"TF_VAR_effects="+effects, "TF_VAR_bot_about="+about, "TF_VAR_result_as=both",
			`TF_VAR_extra_environment={ALLOWED_USERS = "12345,@alice"}`)
		cmd.Stdin = strings.NewReader(expr + "\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("terraform console: %v\n%s", err, out)
		}
		lines = append(lines, strings.TrimSpace(string(out)))
	}
	// With EFFECTS, no REPLICATE_MODEL and companions: photobot refuses both.
	want := map[string]string{
		"S3_ENDPOINT_URL": "https://storage.yandexcloud.net", "S3_REGION": "ru-central1", "LOG_LEVEL": "info",
		"EFFECTS": effects, "BOT_ABOUT": about, "RESULT_AS": "both", "ALLOWED_USERS": "12345,@alice",
	}
	for _, mode := range bashModes {
		for i, line := range lines {
			// deploy.sh takes the string console prints quoted.
			m := regexp.MustCompile(`^"(.*)"$`).FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("console line %q is not a quoted string", line)
			}
			got := decoded(t, mode.env, m[1])
			w := want
			if i == 1 { // setup_environment: the function's whole environment
				w = map[string]string{"S3_BUCKET": "photobot-0a1b2c3d", "PUBLIC_URL": "https://d5d.apigw.yandexcloud.net"}
				for k, v := range want {
					w[k] = v
				}
			}
			for k, v := range w {
				if got[k] != v {
					t.Errorf("%s, line %d: %s = %q, want %q", mode.name, i+1, k, got[k], v)
				}
				delete(got, k)
			}
			for k := range got {
				t.Errorf("%s, line %d: unexpected %s (DEFAULT_EFFECT and others are set only when given)", mode.name, i+1, k)
			}
		}
	}
}

// decoded runs deploy.sh's decode_env on text.
func decoded(t *testing.T, env []string, text string) map[string]string {
	t.Helper()
	out := sourced(t, env, `decode_env "$1"; for ((i = 0; i < ${#ENV_NAMES[@]}; i++)); do printf '%s=%s\0' "${ENV_NAMES[i]}" "${ENV_VALUES[i]}"; done`, text)
	return nulEnv(string(out))
}

func nulEnv(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Every variable photobot reads is cleared before setup, doctor and the
// preflight get the deployed ones.
func TestDeployCleansPhotobotVariables(t *testing.T) {
	data, err := os.ReadFile("deploy.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\nPHOTOBOT_VARS="([^"]*)"`).FindSubmatch(data)
	if m == nil {
		t.Fatal(`deploy.sh has no PHOTOBOT_VARS="..."`)
	}
	names := strings.Fields(string(m[1]))
	for _, v := range config.Vars {
		if !slices.Contains(names, v.Name) {
			t.Errorf("deploy.sh: PHOTOBOT_VARS lacks %s (config.Vars)", v.Name)
		}
	}
}

func TestDeployDryRun(t *testing.T) {
	t.Parallel()
	effectsFile := filepath.Join(t.TempDir(), "effects.json")
	effects := "[{\"id\": \"upscale\", \"title\": {\"en\": \"it's big\"}}]"
	if err := os.WriteFile(effectsFile, []byte(effects+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir() // a PATH without yc, terraform, go, make: dry runs need none
	base := []string{"PATH=" + empty, "HOME=" + t.TempDir(), "DRY_RUN=1", "LANG=C.UTF-8",
		"EFFECTS_FILE=" + effectsFile, "RESULT_AS=document", "DEFAULT_EFFECT=upscale", "BOT_ABOUT=It's a bot"}
	for k, v := range fakeSecrets {
		base = append(base, k+"="+v)
	}
	var secrets []string
	for _, v := range fakeSecrets {
		secrets = append(secrets, v)
	}

	outputs := map[string]string{}
	for _, mode := range bashModes {
		env := append(slices.Clone(base), mode.env...)
		for _, args := range [][]string{{"deploy"}, {"plan"}} {
			out, err := runScript(t, "deploy.sh", env, args...)
			if err != nil {
				t.Fatalf("%s: deploy.sh %v: %v\n%s", mode.name, args, err, out)
			}
			outputs[mode.name+" "+args[0]] = out
			assertNoSecret(t, out, secrets...)
			for _, want := range []string{
				"==> step 1/7: terraform init",
				"==> step 2/7: preflight",
				"checking the tokens and models before creating anything billable",
				"+ settings=$(echo local.settings_encoded | terraform -chdir=deploy/terraform console)",
				"+ go run ./cmd/photobot doctor -mode preflight\n",
				"==> step 3/7: build",
				"+ make package",
				"==> step 4/7: terraform apply",
				"==> step 5/7: terraform apply, second pass",
				"==> step 6/7: secrets",
				"==> step 7/7: photobot setup",
				"+ export TF_VAR_tg_bot_token=****",
				"+ export TF_VAR_replicate_api_token=****",
				"+ export TF_VAR_replicate_webhook_secret=****",
				"+ export TF_VAR_tg_webhook_secret=****",
				"+ export TF_VAR_effects=\"$(cat " + effectsFile + ")\"\n",
				"+ export TF_VAR_result_as=document\n",
				"+ export TF_VAR_default_effect=upscale\n",
				"+ export TF_VAR_bot_about='It'\\''s a bot'\n",
				"+ export EFFECTS='[{\"id\": \"upscale\", \"title\": {\"en\": \"it'\\''s big\"}}]'\n",
				"the functions' environment: about ",
				"+ terraform -chdir=deploy/terraform init -input=false",
				"+ terraform -chdir=deploy/terraform apply -input=false -auto-approve -var public_url=\n",
				"+ terraform -chdir=deploy/terraform apply -input=false -auto-approve -var 'public_url=https://<gateway-id>.apigw.yandexcloud.net'",
				"yc lockbox payload get --id '<lockbox-secret-id>' --version-id '<s3-key-version-id>' --key AWS_ACCESS_KEY_ID",
				"yc lockbox payload get --id '<lockbox-secret-id>' --version-id '<tokens-version-id>' --key TG_WEBHOOK_SECRET",
				"+ export PUBLIC_URL='https://<gateway-id>.apigw.yandexcloud.net'",
				"+ export AWS_SECRET_ACCESS_KEY=****",
				"+ export TG_BOT_TOKEN=****",
				"+ go run ./cmd/photobot setup",
				"https://t.me/",
				"yc logging read --group-name=default",
				"getWebhookInfo",
				"make doctor",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: deploy.sh %v: output lacks %q\n%s", mode.name, args, want, out)
				}
			}
			preflight, apply, setup := strings.Index(out, "doctor -mode preflight"), strings.Index(out, " apply "), strings.Index(out, "photobot setup")
			if preflight < 0 || apply < preflight || setup < apply {
				t.Errorf("%s: deploy.sh %v: want the preflight, then terraform apply, then photobot setup", mode.name, args)
			}
		}

		out, err := runScript(t, "deploy.sh", env, "destroy")
		if err != nil {
			t.Fatalf("%s: deploy.sh destroy: %v\n%s", mode.name, err, out)
		}
		outputs[mode.name+" destroy"] = out
		assertNoSecret(t, out, secrets...)
		for _, want := range []string{"bot****/deleteWebhook", "+ terraform -chdir=deploy/terraform destroy -input=false -auto-approve", "step 3/3: terraform destroy"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: deploy.sh destroy: output lacks %q\n%s", mode.name, want, out)
			}
		}
		if strings.Index(out, "deleteWebhook") > strings.Index(out, "terraform -chdir=deploy/terraform destroy") {
			t.Errorf("%s: deploy.sh destroy: the webhook must go before the functions", mode.name)
		}

		out, err = runScript(t, "deploy.sh", env, "doctor")
		if err != nil {
			t.Fatalf("%s: deploy.sh doctor: %v\n%s", mode.name, err, out)
		}
		outputs[mode.name+" doctor"] = out
		assertNoSecret(t, out, secrets...)
		for _, want := range []string{
			"terraform -chdir=deploy/terraform output -raw setup_environment",
			"yc lockbox payload get --id '<lockbox-secret-id>' --version-id '<tokens-version-id>' --key TG_BOT_TOKEN",
			"yc lockbox payload get --id '<lockbox-secret-id>' --version-id '<s3-key-version-id>' --key AWS_SECRET_ACCESS_KEY",
			"+ export TG_BOT_TOKEN=****",
			"+ go run ./cmd/photobot doctor -mode serve",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: deploy.sh doctor: output lacks %q\n%s", mode.name, want, out)
			}
		}
	}
	for _, cmd := range []string{"deploy", "plan", "destroy", "doctor"} {
		if outputs["bash "+cmd] != outputs["bash3.2 "+cmd] {
			t.Errorf("deploy.sh %s prints differently under BASH_COMPAT=3.2", cmd)
		}
	}
}

func TestDeployNamesMissingPrerequisites(t *testing.T) {
	empty := t.TempDir()
	out, err := runScript(t, "deploy.sh", []string{"PATH=" + empty, "HOME=" + t.TempDir()}, "deploy")
	if err == nil {
		t.Fatalf("deploy.sh deploy without tools or credentials succeeded:\n%s", out)
	}
	for _, want := range []string{"yc not found", "terraform not found", "go not found", "TG_BOT_TOKEN is not set",
		"REPLICATE_API_TOKEN is not set", "YC_TOKEN is not set", "YC_FOLDER_ID", "nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "+ make package") || strings.Contains(out, "terraform -chdir") || strings.Contains(out, "step 1/") {
		t.Errorf("deploy.sh ran steps despite missing prerequisites:\n%s", out)
	}

	// Settings that cannot work, caught even by a dry run.
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"EFFECTS=[]", "EFFECTS_FILE=effects.json"}, "EFFECTS and EFFECTS_FILE are both set"},
		{[]string{"EFFECTS_FILE=no-such-effects.json"}, "EFFECTS_FILE=no-such-effects.json: cannot read"},
		{[]string{"RESULT_AS=photos"}, "RESULT_AS=photos: want photo, document or both"},
	} {
		env := append([]string{"PATH=" + empty, "HOME=" + t.TempDir(), "DRY_RUN=1"}, tc.env...)
		out, err := runScript(t, "deploy.sh", env, "deploy")
		if err == nil || !strings.Contains(out, tc.want) || !strings.Contains(out, "nothing was changed") {
			t.Errorf("%v: want a refusal saying %q; err %v:\n%s", tc.env, tc.want, err, out)
		}
	}
}

// --- the fake cloud ---------------------------------------------------------

// Stand-ins for yc, terraform, go, make, curl and photobot, so that
// deploy.sh runs for real (not DRY_RUN) against a fake cloud: they log their
// calls, remember what was applied and answer like the real tools.
const stubTerraform = `
printf 'terraform %s\n' "$*" >>"$STUB_LOG"
args=()
for a in "$@"; do case $a in -chdir=*) ;; *) args+=("$a") ;; esac; done
set -- "${args[@]}"
enc() { # Terraform's urlencode()
	local LC_ALL=C
	local s=$1 out= c h
	while [[ -n $s ]]; do
		if [[ $s =~ ^[A-Za-z0-9._~-]+ ]]; then
			out+=${BASH_REMATCH[0]}
			s=${s:${#BASH_REMATCH[0]}}
			continue
		fi
		c=${s:0:1}
		s=${s:1}
		if [[ $c == ' ' ]]; then
			out+=+
		else
			printf -v h '%%%02X' "'$c"
			out+=$h
		fi
	done
	printf '%s' "$out"
}
settings() { # local.settings_environment as the variables make it, one NAME=<encoded> a line
	local input='{"scale": 2}' pair v
	printf 'S3_ENDPOINT_URL=%s\n' "$(enc https://storage.yandexcloud.net)"
	printf 'S3_REGION=ru-central1\n'
	printf 'REPLICATE_MODEL=%s\n' "$(enc "${TF_VAR_replicate_model:-owner/model:abc}")"
	printf 'REPLICATE_INPUT=%s\n' "$(enc "${TF_VAR_replicate_input:-$input}")"
	printf 'REPLICATE_IMAGE_FIELD=%s\n' "$(enc "${TF_VAR_replicate_image_field:-image}")"
	printf 'LOG_LEVEL=%s\n' "$(enc "${TF_VAR_log_level:-info}")"
	for pair in effects:EFFECTS result_as:RESULT_AS default_effect:DEFAULT_EFFECT bot_about:BOT_ABOUT; do
		v=TF_VAR_${pair%%:*}
		if [[ -n ${!v:-} ]]; then printf '%s=%s\n' "${pair#*:}" "$(enc "${!v}")"; fi
	done
	printf 'ALLOWED_USERS=%s\n' "$(enc 12345,@alice)" # as terraform.tfvars' extra_environment would
}
count() { local n=0; if [[ -f $1 ]]; then while IFS= read -r _; do n=$((n + 1)); done <"$1"; fi; echo "$n"; }
case $1 in
version) echo "Terraform v1.5.7" ;;
init) echo "Terraform has been successfully initialized!" ;;
console)
	expr=$(cat)
	[[ $expr == local.settings_encoded ]] || { echo "stub: console $expr" >&2; exit 1; }
	s=$(settings)
	printf '"%s"\n' "${s//$'\n'/ }" ;;
apply)
	[[ -n ${TF_VAR_tg_bot_token:-} && -n ${TF_VAR_replicate_api_token:-} && -n ${TF_VAR_folder_id:-} ]] || { echo "stub: TF_VAR_* missing" >&2; exit 1; }
	echo attempt >>"$STUB_STATE/attempts"
	if [[ $(count "$STUB_STATE/attempts") == "${STUB_FAIL_APPLY:-}" ]]; then
		echo "Error: creating Serverless Function: rpc error: code = ResourceExhausted (stub)" >&2
		exit 1
	fi
	pu=none
	while (($#)); do
		if [[ $1 == -var ]]; then shift; case $1 in public_url=*) pu=${1#public_url=} ;; esac; fi
		shift
	done
	[[ $pu != none ]] || { echo "stub: apply without -var public_url" >&2; exit 1; }
	printf '%s' "$pu" >"$STUB_STATE/public_url"
	settings >"$STUB_STATE/settings"
	printf '%s' "${TF_VAR_effects-}" >"$STUB_STATE/tf_effects"
	# What Lockbox holds afterwards (the tokens version).
	printf '%s' "$TF_VAR_tg_bot_token" >"$STUB_STATE/lockbox_TG_BOT_TOKEN"
	printf '%s' "$TF_VAR_replicate_api_token" >"$STUB_STATE/lockbox_REPLICATE_API_TOKEN"
	printf '%s' "${TF_VAR_tg_webhook_secret:-stubGeneratedWebhookSecret}" >"$STUB_STATE/lockbox_TG_WEBHOOK_SECRET"
	if [[ -n ${TF_VAR_replicate_webhook_secret:-} ]]; then
		printf '%s' "$TF_VAR_replicate_webhook_secret" >"$STUB_STATE/lockbox_REPLICATE_WEBHOOK_SECRET"
	else
		rm -f "$STUB_STATE/lockbox_REPLICATE_WEBHOOK_SECRET"
	fi
	echo apply >>"$STUB_STATE/applies"
	echo "Apply complete!" ;;
output)
	name=${@: -1}
	[[ -f $STUB_STATE/public_url ]] || { echo "No outputs found" >&2; exit 1; }
	case $name in
	gateway_url) printf 'https://d5dstub.apigw.yandexcloud.net' ;;
	public_url) cat "$STUB_STATE/public_url" ;;
	lockbox_secret_id) printf 'e6qsecret' ;;
	lockbox_tokens_version_id) printf 'e6qtokens' ;;
	lockbox_s3_key_version_id) printf 'e6qs3key' ;;
	folder_id) printf 'b1gstubfolder' ;;
	fn_handler_name) printf 'photobot-fn-handler' ;;
	fn_callback_name) printf 'photobot-fn-callback' ;;
	setup_environment)
		cat "$STUB_STATE/settings"
		printf 'S3_BUCKET=photobot-0a1b2c3d'
		pu=$(cat "$STUB_STATE/public_url")
		if [[ -n $pu ]]; then printf '\nPUBLIC_URL=%s' "$(enc "$pu")"; fi ;;
	*) echo "stub: no output $name" >&2; exit 1 ;;
	esac ;;
destroy) echo destroy >>"$STUB_STATE/destroys" ;;
*) echo "stub: terraform $1" >&2; exit 1 ;;
esac
`

const stubYC = `
printf 'yc %s\n' "$*" >>"$STUB_LOG"
case "$1 $2" in
"lockbox payload")
	key= ver=
	while (($#)); do case $1 in --key) key=$2 ;; --version-id) ver=$2 ;; esac; shift; done
	case $key:$ver in
	AWS_ACCESS_KEY_ID:e6qs3key) printf 'YCAJEstubAccessKeyId' ;;
	AWS_SECRET_ACCESS_KEY:e6qs3key) printf 'YCstubSecretAccessKeyValue' ;;
	*:e6qtokens) [[ -f $STUB_STATE/lockbox_$key ]] || { echo "ERROR: version $ver has no key $key" >&2; exit 1; }; cat "$STUB_STATE/lockbox_$key" ;;
	*) echo "stub: version $ver has no $key" >&2; exit 1 ;;
	esac ;;
"iam create-token") printf 't1.stubIamTokenDoNotPrint' ;;
"config get") printf 'b1gstubfolder' ;;
*) echo "stub: yc $*" >&2; exit 1 ;;
esac
`

// stubPhotobotBody answers setup, doctor -mode preflight and doctor -mode
// serve, and records its environment (the names in STUB_VARS) NUL-separated
// in $STUB_STATE/<command>_env.
const stubPhotobotBody = `
record() {
	local v
	: >"$STUB_STATE/$1"
	for v in $STUB_VARS; do
		if [[ -n ${!v+x} ]]; then printf '%s=%s\0' "$v" "${!v}" >>"$STUB_STATE/$1"; fi
	done
}
case "$*" in
setup)
	record setup_env
	[[ ${STUB_SETUP:-ok} == ok ]] || { echo "FAIL  telegram webhook: setWebhook: 502 Bad Gateway (stub)"; exit 1; }
	echo "ok    bucket: $S3_BUCKET at $S3_ENDPOINT_URL is reachable"
	echo "ok    telegram bot: @stub_photo_bot"
	echo "ok    telegram webhook: set to $PUBLIC_URL/webhook/telegram with a secret token, updates: message" ;;
"doctor -mode preflight")
	record preflight_env
	echo "OK    telegram bot: @stub_photo_bot"
	if [[ ${STUB_PREFLIGHT:-ok} != ok ]]; then
		echo "FAIL  replicate model owner/model:abc: not found (stub)"
		exit 1
	fi
	echo "OK    replicate model owner/model:abc: takes image" ;;
"doctor -mode serve")
	record doctor_env
	echo "OK    configuration"
	echo "OK    telegram webhook: $PUBLIC_URL/webhook/telegram" ;;
*) echo "stub: photobot $*" >&2; exit 1 ;;
esac
`

const stubGo = `
printf 'go %s\n' "$*" >>"$STUB_LOG"
[[ $1 == run && $2 == ./cmd/photobot ]] || { echo "stub: go $*" >&2; exit 1; }
shift 2
` + stubPhotobotBody

const stubPhotobot = `
printf 'photobot %s\n' "$*" >>"$STUB_LOG"
` + stubPhotobotBody

const stubMake = `
printf 'make %s\n' "$*" >>"$STUB_LOG"
`

const stubCurl = `
printf 'curl %s\n' "$*" >>"$STUB_LOG"
cat >"$STUB_STATE/curl_config"
echo '{"ok":true,"result":true,"description":"Webhook was deleted"}'
`

// fakeCloud is a copy of the repository's layout (deploy.sh finds its root
// from its own path) with the stand-ins first on PATH.
type fakeCloud struct {
	root, bin, state, tmp, cwd string
	env                        []string
	secrets                    []string
}

func newFakeCloud(t *testing.T, extraEnv ...string) *fakeCloud {
	t.Helper()
	sh := bash(t)
	f := &fakeCloud{root: t.TempDir(), bin: t.TempDir(), state: t.TempDir(), tmp: t.TempDir(), cwd: t.TempDir()}
	script, err := os.ReadFile("deploy.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"deploy/terraform", "dist"} {
		if err := os.MkdirAll(filepath.Join(f.root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.root, "deploy/deploy.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"terraform": stubTerraform, "yc": stubYC, "go": stubGo, "make": stubMake,
		"curl": stubCurl, "photobot-stub": stubPhotobot} {
		if err := os.WriteFile(filepath.Join(f.bin, name), []byte("#!"+sh+"\nset -euo pipefail\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The few real tools deploy.sh (and the stand-ins) use outside DRY_RUN.
	for _, name := range []string{"bash", "cat", "head", "mktemp", "rm"} {
		if err := os.Symlink(tool(t, name), filepath.Join(f.bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	// What the photobot stand-in records: what photobot reads, and what
	// deploy.sh passes (or must not pass) even before config.Vars has it.
	names := []string{"EFFECTS_FILE"}
	for _, v := range config.Vars {
		names = append(names, v.Name)
	}
	for env := range optionalSettings {
		names = append(names, env)
	}
	f.env = append([]string{"PATH=" + f.bin, "HOME=" + t.TempDir(), "TMPDIR=" + f.tmp, "LANG=C.UTF-8",
		"STUB_LOG=" + filepath.Join(f.state, "log"), "STUB_STATE=" + f.state, "STUB_VARS=" + strings.Join(names, " "),
		"TG_BOT_TOKEN=" + fakeSecrets["TG_BOT_TOKEN"], "REPLICATE_API_TOKEN=" + fakeSecrets["REPLICATE_API_TOKEN"]}, extraEnv...)
	f.secrets = []string{fakeSecrets["TG_BOT_TOKEN"], fakeSecrets["REPLICATE_API_TOKEN"], "t1.stubIamTokenDoNotPrint",
		"YCAJEstubAccessKeyId", "YCstubSecretAccessKeyValue", "stubGeneratedWebhookSecret"}
	return f
}

// run runs deploy.sh in f.cwd with f.env (entries of env override them).
func (f *fakeCloud) run(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bash(t), append([]string{filepath.Join(f.root, "deploy/deploy.sh")}, args...)...)
	cmd.Dir = f.cwd
	cmd.Env = append(slices.Clone(f.env), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (f *fakeCloud) read(name string) string {
	data, _ := os.ReadFile(filepath.Join(f.state, name))
	return string(data)
}

// recorded is the environment a photobot stand-in recorded.
func (f *fakeCloud) recorded(name string) map[string]string { return nulEnv(f.read(name)) }

func (f *fakeCloud) noSecrets(t *testing.T, out string) {
	t.Helper()
	assertNoSecret(t, out, f.secrets...)
	assertNoSecret(t, f.read("log"), f.secrets...) // nothing secret on any command line
}

func envNames(env map[string]string) []string {
	var out []string
	for k := range env {
		out = append(out, k+"=...")
	}
	slices.Sort(out)
	return out
}

// wantEnv checks env has every entry of want (and none of the names in absent).
func wantEnv(t *testing.T, what string, env, want map[string]string, absent ...string) {
	t.Helper()
	for k, v := range want {
		if got, ok := env[k]; !ok || got != v {
			t.Errorf("%s: %s is not what was deployed (set: %v); got %d bytes", what, k, ok, len(got))
		}
	}
	for _, k := range absent {
		if _, ok := env[k]; ok {
			t.Errorf("%s got %s, which it should not (has %v)", what, k, envNames(env))
		}
	}
}

const stubEffects = "[\n  {\"id\": \"upscale\", \"title\": {\"en\": \"Upscale\", \"ru\": \"Увеличить\"}, \"model\": \"owner/model:abc\",\n   \"input\": {\"prompt\": \"it's \\\"sharp\\\"\", \"path\": \"C:\\\\dir\"}}\n]"

const stubAbout = "It's a bot.\nSend a photo; \"effects\" cost $0.01 (50% off)."

func TestDeployAgainstFakeCloud(t *testing.T) {
	t.Parallel()
	for _, mode := range bashModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeCloud(t, append(mode.env, "EFFECTS_FILE=effects.json", "RESULT_AS=both", "DEFAULT_EFFECT=upscale",
				"BOT_ABOUT="+stubAbout, "DAILY_LIMIT_PER_USER=999")...)
			// EFFECTS_FILE is relative to where deploy.sh was started.
			if err := os.WriteFile(filepath.Join(f.cwd, "effects.json"), []byte(stubEffects+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			testFakeDeploy(t, f)
		})
	}
}

func testFakeDeploy(t *testing.T, f *fakeCloud) {
	// First deploy: no gateway yet, so two applies, the second with its URL.
	out, err := f.run(t, nil, "deploy")
	if err != nil {
		t.Fatalf("deploy: %v\n%s\n--- calls:\n%s", err, out, f.read("log"))
	}
	f.noSecrets(t, out)
	calls := f.read("log")
	if n := strings.Count(f.read("applies"), "apply"); n != 2 {
		t.Errorf("first deploy applied %d times, want 2\n%s", n, calls)
	}
	if !strings.Contains(calls, "apply -input=false -auto-approve -var public_url=https://d5dstub.apigw.yandexcloud.net") {
		t.Errorf("the second apply must set public_url to the gateway's URL:\n%s", calls)
	}
	order := []string{"terraform -chdir=deploy/terraform init", "terraform -chdir=deploy/terraform console",
		"go run ./cmd/photobot doctor -mode preflight", "make package", "terraform -chdir=deploy/terraform apply",
		"yc lockbox payload get", "go run ./cmd/photobot setup"}
	last := -1
	for _, call := range order {
		i := strings.Index(calls, call)
		if i < last {
			t.Errorf("want the calls in the order %q; got:\n%s", order, calls)
			break
		}
		last = i
	}
	for i := 1; i <= 7; i++ {
		if !strings.Contains(out, "==> step "+string(rune('0'+i))+"/7: ") {
			t.Errorf("deploy output lacks step %d/7\n%s", i, out)
		}
	}
	if !strings.Contains(out, "checking the tokens and models before creating anything billable") {
		t.Errorf("the preflight does not say what it is for:\n%s", out)
	}
	tfvars, _ := os.ReadFile(filepath.Join(f.root, "deploy/terraform/public_url.auto.tfvars"))
	if string(tfvars) != "public_url = \"https://d5dstub.apigw.yandexcloud.net\"\n" {
		t.Errorf("public_url.auto.tfvars = %q", tfvars)
	}
	if got := f.read("tf_effects"); got != stubEffects {
		t.Errorf("TF_VAR_effects is not EFFECTS_FILE's content:\n got %q\nwant %q", got, stubEffects)
	}

	settings := map[string]string{
		"REPLICATE_MODEL": "owner/model:abc", "REPLICATE_INPUT": `{"scale": 2}`, "REPLICATE_IMAGE_FIELD": "image",
		"S3_ENDPOINT_URL": "https://storage.yandexcloud.net", "S3_REGION": "ru-central1", "LOG_LEVEL": "info",
		"ALLOWED_USERS": "12345,@alice", "EFFECTS": stubEffects, "RESULT_AS": "both", "DEFAULT_EFFECT": "upscale",
		"BOT_ABOUT": stubAbout,
	}
	tokens := map[string]string{"TG_BOT_TOKEN": fakeSecrets["TG_BOT_TOKEN"], "REPLICATE_API_TOKEN": fakeSecrets["REPLICATE_API_TOKEN"]}
	deployed := map[string]string{"S3_BUCKET": "photobot-0a1b2c3d", "PUBLIC_URL": "https://d5dstub.apigw.yandexcloud.net",
		"AWS_ACCESS_KEY_ID": "YCAJEstubAccessKeyId", "AWS_SECRET_ACCESS_KEY": "YCstubSecretAccessKeyValue",
		"TG_WEBHOOK_SECRET": "stubGeneratedWebhookSecret"}
	merged := func(ms ...map[string]string) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	// The preflight: the tokens and the settings Terraform will deploy, and
	// nothing of the caller's other settings (DAILY_LIMIT_PER_USER) nor of
	// what does not exist yet.
	wantEnv(t, "the preflight", f.recorded("preflight_env"), merged(settings, tokens),
		"DAILY_LIMIT_PER_USER", "EFFECTS_FILE", "S3_BUCKET", "PUBLIC_URL", "AWS_ACCESS_KEY_ID")
	wantEnv(t, "photobot setup", f.recorded("setup_env"), merged(settings, tokens, deployed),
		"DAILY_LIMIT_PER_USER", "EFFECTS_FILE", "REPLICATE_WEBHOOK_SECRET")
	for _, want := range []string{"https://t.me/stub_photo_bot", "yc serverless function logs photobot-fn-handler --follow --folder-id=b1gstubfolder",
		"yc logging read --group-name=default --folder-id=b1gstubfolder --follow", "OK    replicate model owner/model:abc: takes image"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q\n%s", want, out)
		}
	}
	if left, _ := os.ReadDir(f.tmp); len(left) > 0 {
		t.Errorf("deploy left temporary files: %v", left)
	}

	// A later deploy knows the gateway: one apply.
	if out, err := f.run(t, nil, "deploy"); err != nil {
		t.Fatalf("second deploy: %v\n%s", err, out)
	}
	if n := strings.Count(f.read("applies"), "apply"); n != 3 {
		t.Errorf("a later deploy applied %d times, want 1", n-2)
	}

	// Doctor: the deployed environment, from the outputs and Lockbox, not
	// the caller's (no tokens given; a stray ALLOWED_USERS), through the
	// photobot binary PHOTOBOT names.
	before := f.read("log")
	out, err = f.run(t, []string{"TG_BOT_TOKEN=", "REPLICATE_API_TOKEN=", "ALLOWED_USERS=stray",
		"PHOTOBOT=" + filepath.Join(f.bin, "photobot-stub")}, "doctor")
	if err != nil {
		t.Fatalf("doctor: %v\n%s\n--- calls:\n%s", err, out, f.read("log"))
	}
	f.noSecrets(t, out)
	doctorCalls := strings.TrimPrefix(f.read("log"), before)
	if !strings.Contains(doctorCalls, "photobot doctor -mode serve") || strings.Contains(doctorCalls, "go run") {
		t.Errorf("doctor must run $PHOTOBOT doctor -mode serve:\n%s", doctorCalls)
	}
	if strings.Contains(doctorCalls, " apply") || strings.Contains(doctorCalls, "make ") {
		t.Errorf("doctor must change nothing:\n%s", doctorCalls)
	}
	wantEnv(t, "doctor", f.recorded("doctor_env"), merged(settings, tokens, deployed),
		"DAILY_LIMIT_PER_USER", "EFFECTS_FILE", "REPLICATE_WEBHOOK_SECRET")
	if !strings.Contains(out, "OK    telegram webhook: https://d5dstub.apigw.yandexcloud.net/webhook/telegram") {
		t.Errorf("doctor output lacks photobot doctor's lines:\n%s", out)
	}

	// Destroy: the webhook first, the token never on curl's command line.
	out, err = f.run(t, nil, "destroy")
	if err != nil {
		t.Fatalf("destroy: %v\n%s\n--- calls:\n%s", err, out, f.read("log"))
	}
	f.noSecrets(t, out)
	if cfg := f.read("curl_config"); !strings.Contains(cfg, "/bot"+fakeSecrets["TG_BOT_TOKEN"]+"/deleteWebhook") {
		t.Errorf("curl did not get the deleteWebhook URL on stdin")
	}
	calls = f.read("log")
	if i, j := strings.LastIndex(calls, "curl "), strings.Index(calls, "terraform -chdir=deploy/terraform destroy"); i < 0 || j < i {
		t.Errorf("destroy: want deleteWebhook, then terraform destroy:\n%s", calls)
	}
	if _, err := os.Stat(filepath.Join(f.root, "deploy/terraform/public_url.auto.tfvars")); !os.IsNotExist(err) {
		t.Errorf("destroy left public_url.auto.tfvars")
	}
}

// A failing preflight stops the deploy before anything is created: no
// terraform apply (only init, which installs the providers, and console,
// which reads the settings), no build, no Lockbox.
func TestDeployStopsAtFailedPreflight(t *testing.T) {
	t.Parallel()
	f := newFakeCloud(t, "STUB_PREFLIGHT=fail")
	out, err := f.run(t, nil, "deploy")
	if err == nil {
		t.Fatalf("deploy succeeded despite a failed preflight:\n%s", out)
	}
	f.noSecrets(t, out)
	for _, want := range []string{"FAIL  replicate model owner/model:abc: not found",
		"step 2/7 (preflight: tokens, models, size of the environment) failed. Nothing was created."} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	calls := f.read("log")
	for _, line := range strings.Split(strings.TrimSpace(calls), "\n") {
		if strings.HasPrefix(line, "terraform ") && !regexp.MustCompile(`^terraform (-chdir=deploy/terraform )?(version|init -input=false|console|output -raw gateway_url)$`).MatchString(line) {
			t.Errorf("a failed preflight must stop before Terraform creates anything; called %q", line)
		}
		if strings.HasPrefix(line, "make ") || strings.HasPrefix(line, "yc lockbox") {
			t.Errorf("a failed preflight must stop the deploy; called %q", line)
		}
	}
	if f.read("attempts") != "" {
		t.Errorf("terraform apply ran")
	}
}

// A failed step names itself, says what exists and how to go on; make
// deploy again resumes.
func TestDeployNamesTheFailedStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  string
		want string
	}{
		{"STUB_FAIL_APPLY=1", "step 4/7 (terraform apply) failed. Terraform may have created part of the deployment"},
		{"STUB_FAIL_APPLY=2", "step 5/7 (terraform apply, second pass) failed. Already created: everything of the first apply (bucket, functions, gateway, secrets)"},
		{"STUB_SETUP=fail", "step 7/7 (photobot setup: bucket checks, lifecycle rules, Replicate model, Telegram webhook) failed. Already created: everything"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			f := newFakeCloud(t)
			out, err := f.run(t, []string{tc.env}, "deploy")
			if err == nil {
				t.Fatalf("deploy succeeded with %s:\n%s", tc.env, out)
			}
			f.noSecrets(t, out)
			for _, want := range []string{tc.want, "run `make deploy` again (it resumes), or `make destroy` to remove it all"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q\n%s", want, out)
				}
			}
			if strings.Contains(out, "==> deployed") {
				t.Errorf("a failed deploy says it deployed:\n%s", out)
			}
			// Once the cause is gone, the same command finishes the job.
			out, err = f.run(t, nil, "deploy")
			if err != nil {
				t.Fatalf("deploy after %s: %v\n%s", tc.env, err, out)
			}
			if !strings.Contains(out, "https://t.me/stub_photo_bot") || f.read("public_url") != "https://d5dstub.apigw.yandexcloud.net" {
				t.Errorf("deploy after %s did not finish:\n%s", tc.env, out)
			}
		})
	}
}

// An environment over Yandex's 4 KB is refused before anything exists.
func TestDeployRefusesTooLargeEnvironment(t *testing.T) {
	t.Parallel()
	effects := `[{"id": "big", "title": {"en": "` + strings.Repeat("x", 4000) + `"}}]`
	f := newFakeCloud(t, "EFFECTS="+effects)
	out, err := f.run(t, nil, "deploy")
	if err == nil {
		t.Fatalf("deploy accepted a %d-byte EFFECTS:\n%s", len(effects), out)
	}
	f.noSecrets(t, out)
	for _, want := range []string{"over Yandex Cloud's limit of 4096", "the largest: EFFECTS 4", "Shorten them",
		"step 2/7 (preflight"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	if calls := f.read("log"); strings.Contains(calls, "doctor") || strings.Contains(calls, " apply") {
		t.Errorf("deploy went on after refusing the environment:\n%s", calls)
	}

	// Half of it fits.
	f = newFakeCloud(t, "EFFECTS="+`[{"id": "big", "title": {"en": "`+strings.Repeat("x", 2000)+`"}}]`)
	if out, err := f.run(t, nil, "deploy"); err != nil {
		t.Errorf("deploy refused a 2 KB EFFECTS: %v\n%s", err, out)
	}
}

// Given secrets are stored in Lockbox and doctor reads them back from there
// (REPLICATE_WEBHOOK_SECRET only when it was given).
func TestDoctorReadsGivenSecrets(t *testing.T) {
	t.Parallel()
	f := newFakeCloud(t, "REPLICATE_WEBHOOK_SECRET="+fakeSecrets["REPLICATE_WEBHOOK_SECRET"], "TG_WEBHOOK_SECRET="+fakeSecrets["TG_WEBHOOK_SECRET"])
	f.secrets = append(f.secrets, fakeSecrets["REPLICATE_WEBHOOK_SECRET"], fakeSecrets["TG_WEBHOOK_SECRET"])
	if out, err := f.run(t, nil, "deploy"); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	out, err := f.run(t, []string{"TG_BOT_TOKEN=", "REPLICATE_API_TOKEN=", "REPLICATE_WEBHOOK_SECRET=", "TG_WEBHOOK_SECRET="}, "doctor")
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	f.noSecrets(t, out)
	wantEnv(t, "doctor", f.recorded("doctor_env"), map[string]string{
		"REPLICATE_WEBHOOK_SECRET": fakeSecrets["REPLICATE_WEBHOOK_SECRET"], "TG_WEBHOOK_SECRET": fakeSecrets["TG_WEBHOOK_SECRET"],
		"TG_BOT_TOKEN": fakeSecrets["TG_BOT_TOKEN"], "PUBLIC_URL": "https://d5dstub.apigw.yandexcloud.net",
	})
	if !strings.Contains(f.read("log"), "go run ./cmd/photobot doctor -mode serve") {
		t.Errorf("without PHOTOBOT, doctor runs go run ./cmd/photobot:\n%s", f.read("log"))
	}

	// Without a deployment, doctor says so and changes nothing.
	f = newFakeCloud(t)
	out, err = f.run(t, nil, "doctor")
	if err == nil || !strings.Contains(out, "step 1/3 (the deployed settings, from the Terraform outputs) failed. Doctor changed nothing. Is there a deployment (make deploy)") {
		t.Errorf("doctor without a deployment: err %v\n%s", err, out)
	}
}

func TestMakefileTargets(t *testing.T) {
	data, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(data)
	for target, recipe := range map[string]string{
		"deploy":         "./deploy/deploy.sh deploy",
		"destroy":        "./deploy/deploy.sh destroy",
		"deploy-dry-run": "DRY_RUN=1 ./deploy/deploy.sh deploy",
		"doctor":         "./deploy/deploy.sh doctor",
	} {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `:.*\n\t` + regexp.QuoteMeta(recipe) + `$`)
		if !re.MatchString(mk) {
			t.Errorf("Makefile: want target %s running %q", target, recipe)
		}
	}
	if fi, err := os.Stat("deploy.sh"); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("deploy/deploy.sh must be executable (make runs ./deploy/deploy.sh)")
	}
}

// A private bot must never deploy public (issue: the deploy dropped the
// access settings): every pass-through setting set in the environment
// reaches the functions' environment (Terraform's extra_environment), the
// settings the preflight checks, and photobot setup; values with quotes,
// newlines and template sequences arrive as written.
func TestDeployPassesTheSettingsOn(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	set := map[string]string{
		"ALLOWED_USERS": "12345,@anna", "DAILY_LIMIT_PER_USER": "5", "MAX_ACTIVE_PER_USER": "1",
		"ADMIN_USERS": "777", "PRICE_STARS": "3", "STAR_PACKS": "10,20",
		"TERMS": `{"en": "Pay ${x} \"now\""}`,
	}
	base := []string{"PATH=" + empty, "HOME=" + t.TempDir(), "DRY_RUN=1", "LANG=C.UTF-8"}
	for k, v := range fakeSecrets {
		base = append(base, k+"="+v)
	}
	for k, v := range set {
		base = append(base, k+"="+v)
	}
	for _, mode := range bashModes {
		out, err := runScript(t, "deploy.sh", append(slices.Clone(base), mode.env...), "deploy")
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode.name, err, out)
		}
		i := strings.Index(out, "+ export TF_VAR_extra_environment=")
		if i < 0 {
			t.Fatalf("%s: no TF_VAR_extra_environment: the settings are dropped\n%s", mode.name, out)
		}
		line, _, _ := strings.Cut(out[i:], "\n")
		for _, want := range []string{`ALLOWED_USERS = "12345,@anna"`, `DAILY_LIMIT_PER_USER = "5"`, `MAX_ACTIVE_PER_USER = "1"`,
			`ADMIN_USERS = "777"`, `PRICE_STARS = "3"`, `STAR_PACKS = "10,20"`, `TERMS = "{\"en\": \"Pay $${x} \\\"now\\\"\"}"`} {
			if !strings.Contains(line, want) {
				t.Errorf("%s: TF_VAR_extra_environment lacks %s:\n%s", mode.name, want, line)
			}
		}
		// What setup and doctor run with after the apply: the same values.
		for _, want := range []string{"+ export ALLOWED_USERS=12345,@anna\n", "+ export PRICE_STARS=3\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: the deployed environment lacks %q\n%s", mode.name, want, out)
			}
		}
	}
}

// The dry run tells the truth: with photobot at hand it checks the
// configuration offline as photobot does at start, so a malformed effects
// file stops it instead of ending "==> deployed"; and a model is never
// printed beside EFFECTS (photobot refuses the two together).
func TestDryRunChecksTheConfiguration(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "photobot")
	build := exec.Command(tool(t, "go"), "build", "-o", bin, "./cmd/photobot")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building photobot: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		effects string
		ok      bool
	}{
		{`[{"id": "upscale", "title": "Up", "model": "acme/up"}]`, true},
		{`[{"id": "upscale", "title": "Up", "model": "acme/up"},`, false},
	} {
		file := filepath.Join(t.TempDir(), "effects.json")
		if err := os.WriteFile(file, []byte(tc.effects), 0o644); err != nil {
			t.Fatal(err)
		}
		env := []string{"PATH=" + t.TempDir(), "HOME=" + t.TempDir(), "DRY_RUN=1", "LANG=C.UTF-8",
			"PHOTOBOT=" + bin, "EFFECTS_FILE=" + file}
		for k, v := range fakeSecrets {
			env = append(env, k+"="+v)
		}
		out, err := runScript(t, "deploy.sh", env, "deploy")
		if (err == nil) != tc.ok {
			t.Errorf("%s: deploy.sh: err %v, want ok %v\n%s", tc.effects, err, tc.ok, out)
		}
		if !tc.ok && (!strings.Contains(out, "FAIL  configuration: EFFECTS") || strings.Contains(out, "==> deployed")) {
			t.Errorf("%s: a malformed effects file does not stop the dry run:\n%s", tc.effects, out)
		}
		if strings.Contains(out, "REPLICATE_MODEL=") {
			t.Errorf("%s: the dry run prints a model beside EFFECTS:\n%s", tc.effects, out)
		}
	}
}

# Stand-in for OpenNebula's src/mad/sh/scripts_common.sh (OpenNebula/one
# master), written for hfhub's tests, not a copy: the helpers the datastore
# scripts below use, with the behaviour that matters to hfhub:
#  - log/log_error write "LEVEL: <action>: message" to stderr (the driver log);
#  - error_message writes to stderr (what oned shows as the error);
#  - multiline_exec_and_log runs its command with bash -s, keeps the
#    command's stderr, throws its stdout away, and only on failure logs the
#    captured stderr with log_error, prints its own message and exits with
#    the command's status (so a successful import's stderr is never seen).

QEMU_IMG=qemu-img
MD5SUM=md5sum
DATE=date
TR=tr
SSH=ssh
DD=dd

function log_function { echo "$1: $(basename "$0"): $2" >&2; }
function log_info { log_function "INFO" "$1"; }
function log { log_info "$1"; }
function log_error { log_function "ERROR" "$1"; }
function error_message { echo "$1" >&2; }

function multiline_exec_and_log
{
    EXEC_LOG_ERR=$(bash -s 2>&1 1>/dev/null <<EOF
export LANG=C
export LC_ALL=C
$1
EOF
)
    EXEC_LOG_RC=$?
    if [ $EXEC_LOG_RC -ne 0 ]; then
        log_error "Command \"$1\" failed: $EXEC_LOG_ERR"
        if [ -n "$2" ]; then
            error_message "$2"
        else
            error_message "Error executing $1: $EXEC_LOG_ERR"
        fi
        exit $EXEC_LOG_RC
    fi
}

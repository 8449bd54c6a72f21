#!/bin/sh
# The store-setup Job (store.yaml): buckets, the uploads bucket's webhook to the intake, and the app's
# MinIO account with the policy in app.json. Every step checks before it changes anything.
set -eu

until mc ready medialens >/dev/null 2>&1; do
    echo "waiting for MinIO"
    sleep 5
done
for bucket in $BUCKETS; do
    mc mb --ignore-existing "medialens/$bucket"
done
if ! mc event list "medialens/$UPLOADS_BUCKET" "$WEBHOOK_ARN" 2>/dev/null | grep -q "$WEBHOOK_ARN"; then
    mc event add "medialens/$UPLOADS_BUCKET" "$WEBHOOK_ARN" --event put
fi
mc admin policy create medialens "$APP_USER" /setup/app.json
# The secret goes to mc on stdin, never in argv.
printf '%s\n' "$APP_SECRET_KEY" | mc admin user add medialens "$APP_USER" >/dev/null
# MinIO refuses to attach a policy twice.
if ! mc admin user info medialens "$APP_USER" --json | grep -Eq "\"policyName\": *\"([^\"]*,)?$APP_USER(,[^\"]*)?\""; then
    mc admin policy attach medialens "$APP_USER" --user "$APP_USER"
fi
echo "store ready: buckets $BUCKETS, notification of $UPLOADS_BUCKET, account $APP_USER"

/* The aws.cloudwatch.alarm probe against the test AWS endpoint
 * (tests/awsep.h): healthy while the alarm is OK, failing the moment it
 * goes to ALARM (what makes it a guard: one failed guard sample aborts the
 * run), INSUFFICIENT_DATA healthy unless the scenario says otherwise, an
 * alarm that does not exist and an AWS error as failures that say why. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awsep.h"
#include "awsmeta.h"
#include "gameday/probe.h"
#include "proberun.h"
#include "testutil.h"

static struct gd_awsep *ep;
static char *home;

static const char *const FIXTURE =
    "{\"alarms\": ["
    "  {\"name\": \"web-5xx\", \"state\": \"OK\","
    "   \"metric\": \"HTTPCode_Target_5XX_Count\","
    "   \"namespace\": \"AWS/ApplicationELB\", \"statistic\": \"Sum\","
    "   \"period\": 60, \"threshold\": 10,"
    "   \"comparison\": \"GreaterThanThreshold\", \"evaluation_periods\": 1},"
    "  {\"name\": \"db-cpu\", \"state\": \"INSUFFICIENT_DATA\","
    "   \"metric\": \"CPUUtilization\", \"namespace\": \"AWS/RDS\","
    "   \"statistic\": \"Average\", \"period\": 60, \"threshold\": 90,"
    "   \"comparison\": \"GreaterThanThreshold\", \"evaluation_periods\": 3}"
    "]}";

#define NEED_EP()                                                             \
  do {                                                                        \
    char why_[256];                                                           \
    if (!ep) GD_SKIP("the test AWS endpoint did not start");                  \
    CU_ASSERT_EQUAL_FATAL(gd_awsep_load(ep, FIXTURE, why_, sizeof why_), 0);  \
  } while (0)

static void *fire(void *arg) {
  (void)arg;
  usleep(400 * 1000);
  gd_awsep_set_alarm(ep, "web-5xx", "ALARM");
  return NULL;
}

/* The guard's view: OK samples, then the alarm fires and every sample after
 * fails with the state and CloudWatch's reason. */
static void test_ok_then_alarm(void) {
  NEED_EP();
  struct gd_proberun o;
  char desc[256];
  pthread_t th;
  CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, fire, NULL), 0);
  gd_proberun("{\"type\":\"aws.cloudwatch.alarm\",\"alarm\":\"web-5xx\","
              "\"interval_ms\":50,\"timeout_ms\":2000}",
              0, 1000, &o, desc, sizeof desc);
  pthread_join(th, NULL);
  GD_ASSERT_STR(desc, "cloudwatch alarm web-5xx is OK or INSUFFICIENT_DATA");
  CU_ASSERT(o.n >= 10);
  int first_bad = -1;
  for (int i = 0; i < o.n; i++)
    if (o.cls[i] != GD_SAMPLE_OK) {
      first_bad = i;
      break;
    }
  CU_ASSERT(first_bad >= 3);
  if (first_bad < 0) return;
  for (int i = 0; i < first_bad; i++) GD_ASSERT_STR(o.detail[i], "OK");
  for (int i = first_bad; i < o.n; i++) {
    CU_ASSERT_EQUAL(o.cls[i], GD_SAMPLE_MISMATCH);
    CU_ASSERT_EQUAL(strncmp(o.detail[i], "ALARM", 5), 0);
  }
  CU_ASSERT(gd_awsep_count(ep, "monitoring", "DescribeAlarms") >= (unsigned)o.n);
}

static void test_insufficient_data(void) {
  NEED_EP();
  struct gd_proberun o;
  gd_proberun("{\"type\":\"aws.cloudwatch.alarm\",\"alarm\":\"db-cpu\","
              "\"interval_ms\":20,\"timeout_ms\":2000}",
              2, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.ok, 2);
  GD_ASSERT_STR(o.detail[0], "INSUFFICIENT_DATA");
  gd_proberun("{\"type\":\"aws.cloudwatch.alarm\",\"alarm\":\"db-cpu\","
              "\"insufficient_data_ok\":false,"
              "\"interval_ms\":20,\"timeout_ms\":2000}",
              2, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.ok, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);
  CU_ASSERT_EQUAL(strncmp(o.detail[0], "INSUFFICIENT_DATA", 17), 0);
}

static void test_missing_and_errors(void) {
  NEED_EP();
  struct gd_proberun o;
  gd_proberun("{\"type\":\"aws.cloudwatch.alarm\",\"alarm\":\"no-such\","
              "\"interval_ms\":20,\"timeout_ms\":2000}",
              1, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_MISMATCH);
  GD_ASSERT_STR(o.detail[0], "no alarm 'no-such'");
  gd_awsep_fail_next(ep, "monitoring", "DescribeAlarms", 1, 400, "Throttling",
                     "Rate exceeded");
  gd_proberun("{\"type\":\"aws.cloudwatch.alarm\",\"alarm\":\"web-5xx\","
              "\"interval_ms\":20,\"timeout_ms\":2000}",
              2, 3000, &o, NULL, 0);
  CU_ASSERT_EQUAL(o.n, 2);
  /* One attempt per sample: the throttled one fails, the next is fine. */
  CU_ASSERT_EQUAL(o.cls[0], GD_SAMPLE_ERROR);
  CU_ASSERT_PTR_NOT_NULL(strstr(o.detail[0], "Throttling"));
  CU_ASSERT_EQUAL(o.cls[1], GD_SAMPLE_OK);
}

static void test_init_errors(void) {
  GD_ASSERT_STR(gd_proberun_init_error("{\"type\":\"aws.cloudwatch.alarm\","
                                       "\"interval_ms\":10,\"timeout_ms\":10}"),
                "probes.t.alarm: required key missing");
  GD_ASSERT_STR(gd_proberun_init_error("{\"type\":\"aws.cloudwatch.alarm\","
                                       "\"alarm\":\"a\",\"state\":\"OK\","
                                       "\"interval_ms\":10,\"timeout_ms\":10}"),
                "probes.t: unknown key 'state'");
}

int main(void) {
  static const struct gd_test tests[] = {
      {"ok, then the alarm fires", test_ok_then_alarm},
      {"insufficient data", test_insufficient_data},
      {"missing alarm, aws errors", test_missing_and_errors},
      {"init errors", test_init_errors},
      {NULL, NULL},
  };
  home = gd_test_tmpdir();
  gd_awsenv_begin(home);
  ep = gd_awsep_start(NULL);
  if (ep) gd_awsep_setenv(ep);
  int rc = gd_test_run("aws cloudwatch alarm", tests);
  if (ep) gd_awsep_stop(ep);
  gd_awsenv_end();
  gd_test_rmrf(home);
  free(home);
  return rc;
}

import { Suspense, lazy } from "react";

import { useI18n } from "../../i18n/I18nProvider";

// Loaded on first visit: the charts library stays out of the first page's JavaScript.
const DashboardsPage = lazy(() => import("./DashboardsPage"));

function Loading() {
  const { t } = useI18n();
  return (
    <p className="page-status" role="status">
      {t("app.loading")}
    </p>
  );
}

/** The dashboards route, lazy-loaded. */
export function DashboardsRoute() {
  return (
    <Suspense fallback={<Loading />}>
      <DashboardsPage />
    </Suspense>
  );
}

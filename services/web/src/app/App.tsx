import { Navigate, Route, Routes } from "react-router";

import { MyDayPage } from "../features/my-day/MyDayPage";
import { NotFoundPage, PlaceholderPage } from "../features/placeholders/PlaceholderPage";
import { SignInPage } from "../features/sign-in/SignInPage";
import { Shell } from "./Shell";

export function App() {
  return (
    <Routes>
      <Route path="/sign-in" element={<SignInPage />} />
      <Route element={<Shell />}>
        <Route index element={<Navigate to="/my-day" replace />} />
        <Route path="my-day" element={<MyDayPage />} />
        <Route path="customers/*" element={<PlaceholderPage title="nav.customers" />} />
        <Route path="pipeline" element={<PlaceholderPage title="nav.pipeline" />} />
        <Route path="tickets/*" element={<PlaceholderPage title="nav.tickets" />} />
        <Route path="alerts" element={<PlaceholderPage title="nav.alerts" />} />
        <Route path="dashboards" element={<PlaceholderPage title="nav.dashboards" />} />
        <Route path="admin" element={<PlaceholderPage title="nav.admin" />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}

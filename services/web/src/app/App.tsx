import { Navigate, Route, Routes } from "react-router";

import { AlertsPage } from "../features/alerts/AlertsPage";
import { CustomerPage } from "../features/customers/CustomerPage";
import { CustomersPage } from "../features/customers/CustomersPage";
import { DashboardsRoute } from "../features/dashboards/DashboardsRoute";
import { MyDayPage } from "../features/my-day/MyDayPage";
import { NotFoundPage, PlaceholderPage } from "../features/placeholders/PlaceholderPage";
import { PipelinePage } from "../features/pipeline/PipelinePage";
import { SignInPage } from "../features/sign-in/SignInPage";
import { TicketPage } from "../features/tickets/TicketPage";
import { TicketsPage } from "../features/tickets/TicketsPage";
import { Shell } from "./Shell";

export function App() {
  return (
    <Routes>
      <Route path="/sign-in" element={<SignInPage />} />
      <Route element={<Shell />}>
        <Route index element={<Navigate to="/my-day" replace />} />
        <Route path="my-day" element={<MyDayPage />} />
        <Route path="customers" element={<CustomersPage />} />
        <Route path="customers/:customerId" element={<CustomerPage />} />
        <Route path="pipeline" element={<PipelinePage />} />
        <Route path="tickets" element={<TicketsPage />} />
        <Route path="tickets/:ticketId" element={<TicketPage />} />
        <Route path="alerts" element={<AlertsPage />} />
        <Route path="dashboards" element={<DashboardsRoute />} />
        <Route path="admin" element={<PlaceholderPage title="nav.admin" />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}

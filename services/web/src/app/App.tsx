import { Navigate, Route, Routes } from "react-router";

import { AdminRoutes } from "../features/admin/AdminRoutes";
import { AlertsPage } from "../features/alerts/AlertsPage";
import { CustomerPage } from "../features/customers/CustomerPage";
import { CustomersPage } from "../features/customers/CustomersPage";
import { DashboardsRoute } from "../features/dashboards/DashboardsRoute";
import { MyDayPage } from "../features/my-day/MyDayPage";
import { NotFoundPage } from "../features/placeholders/PlaceholderPage";
import { PipelinePage } from "../features/pipeline/PipelinePage";
import { SignInPage } from "../features/sign-in/SignInPage";
import { TicketPage } from "../features/tickets/TicketPage";
import { TicketsPage } from "../features/tickets/TicketsPage";
import { Allowed } from "./Allowed";
import { Shell } from "./Shell";

export function App() {
  return (
    <Routes>
      <Route path="/sign-in" element={<SignInPage />} />
      <Route element={<Shell />}>
        <Route index element={<Navigate to="/my-day" replace />} />
        <Route path="my-day" element={<MyDayPage />} />
        <Route path="customers" element={<Allowed action="customers.read"><CustomersPage /></Allowed>} />
        <Route path="customers/:customerId" element={<Allowed action="customers.read"><CustomerPage /></Allowed>} />
        <Route path="pipeline" element={<Allowed action="leads.read"><PipelinePage /></Allowed>} />
        <Route path="tickets" element={<Allowed action="customers.read"><TicketsPage /></Allowed>} />
        <Route path="tickets/:ticketId" element={<Allowed action="customers.read"><TicketPage /></Allowed>} />
        <Route path="alerts" element={<Allowed action="alerts.read"><AlertsPage /></Allowed>} />
        <Route path="dashboards" element={<Allowed action="analytics.read"><DashboardsRoute /></Allowed>} />
        <Route path="admin/*" element={<AdminRoutes />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}

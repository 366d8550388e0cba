/**
 * Every string the app shows, in English and Simplified Chinese. `{name}` marks a value put
 * in by the caller; both languages must use the same ones (checked by messages.test.ts).
 */

export const en = {
  "app.name": "Chronicle CRM",
  "app.skipToContent": "Skip to content",
  "app.loading": "Loading…",
  "app.language": "Language",

  "nav.label": "Main",
  "nav.myDay": "My day",
  "nav.customers": "Customers",
  "nav.pipeline": "Pipeline",
  "nav.tickets": "Tickets",
  "nav.alerts": "Alerts",
  "nav.dashboards": "Dashboards",
  "nav.admin": "Admin",

  "session.signedInAs": "Signed in as {name} ({tenant})",
  "session.signOut": "Sign out",

  "signIn.title": "Sign in",
  "signIn.intro": "Sign in with the account your administrator gave you.",
  "signIn.tenant": "Tenant",
  "signIn.name": "User name",
  "signIn.password": "Password",
  "signIn.submit": "Sign in",
  "signIn.submitting": "Signing in…",
  "signIn.failed": "Sign-in failed",
  "signIn.invalidCredentials": "The tenant, user name or password is not right.",
  "signIn.tooMany": "Too many attempts. Wait a moment and try again.",

  "error.network": "The server cannot be reached. Check your connection and try again.",
  "error.sessionEnded": "Your session has ended. Please sign in again.",
  "error.forbidden": "You are not allowed to do this.",
  "error.unexpected": "Something went wrong ({code}).",
  "error.fromServer": "The server said: {message}",

  "myDay.title": "My day",
  "myDay.greeting": "Good to see you, {name}.",
  "myDay.leads": "My open leads",
  "myDay.leadsEmpty": "No open leads.",
  "myDay.tasks": "My tasks",
  "myDay.tasksEmpty": "No open tasks.",
  "myDay.alerts": "My alerts",
  "myDay.alertsEmpty": "No alerts.",
  "myDay.more": "Showing the first {count}.",
  "lead.stage": "Stage: {stage}",
  "lead.amount": "Amount",
  "lead.customer": "Customer",
  "lead.followUpOverdue": "Follow-up overdue",
  "lead.nextFollowUp": "Next follow-up {when}",
  "task.due": "Due {when}",
  "task.overdue": "Overdue",
  "task.untitled": "(title withheld)",
  "alert.raised": "Raised {when}",
  "alert.status.open": "Open",
  "alert.status.acknowledged": "Acknowledged",

  "placeholder.soon": "This page is coming soon.",
  "notFound.title": "Page not found",
  "notFound.back": "Go to My day",
} as const;

export type MessageKey = keyof typeof en;

export const zhCN: Record<MessageKey, string> = {
  "app.name": "Chronicle CRM",
  "app.skipToContent": "跳到主要内容",
  "app.loading": "加载中…",
  "app.language": "语言",

  "nav.label": "主导航",
  "nav.myDay": "我的一天",
  "nav.customers": "客户",
  "nav.pipeline": "销售管道",
  "nav.tickets": "工单",
  "nav.alerts": "提醒",
  "nav.dashboards": "仪表板",
  "nav.admin": "管理",

  "session.signedInAs": "已登录：{name}（{tenant}）",
  "session.signOut": "退出登录",

  "signIn.title": "登录",
  "signIn.intro": "请使用管理员为您开设的账户登录。",
  "signIn.tenant": "租户",
  "signIn.name": "用户名",
  "signIn.password": "密码",
  "signIn.submit": "登录",
  "signIn.submitting": "正在登录…",
  "signIn.failed": "登录失败",
  "signIn.invalidCredentials": "租户、用户名或密码不正确。",
  "signIn.tooMany": "尝试次数过多，请稍后再试。",

  "error.network": "无法连接服务器。请检查网络连接后重试。",
  "error.sessionEnded": "您的会话已结束，请重新登录。",
  "error.forbidden": "您无权执行此操作。",
  "error.unexpected": "出现问题（{code}）。",
  "error.fromServer": "服务器返回：{message}",

  "myDay.title": "我的一天",
  "myDay.greeting": "欢迎回来，{name}。",
  "myDay.leads": "我的未结线索",
  "myDay.leadsEmpty": "没有未结线索。",
  "myDay.tasks": "我的任务",
  "myDay.tasksEmpty": "没有未完成的任务。",
  "myDay.alerts": "我的提醒",
  "myDay.alertsEmpty": "没有提醒。",
  "myDay.more": "仅显示前 {count} 条。",
  "lead.stage": "阶段：{stage}",
  "lead.amount": "金额",
  "lead.customer": "客户",
  "lead.followUpOverdue": "跟进已逾期",
  "lead.nextFollowUp": "下次跟进 {when}",
  "task.due": "截止 {when}",
  "task.overdue": "已逾期",
  "task.untitled": "（标题不可见）",
  "alert.raised": "发出于 {when}",
  "alert.status.open": "待处理",
  "alert.status.acknowledged": "已确认",

  "placeholder.soon": "此页面即将推出。",
  "notFound.title": "页面不存在",
  "notFound.back": "前往“我的一天”",
};

export const LOCALES = ["en", "zh-CN"] as const;
export type Locale = (typeof LOCALES)[number];

export const MESSAGES: Record<Locale, Record<MessageKey, string>> = { en, "zh-CN": zhCN };

/** Each language's name, in that language (the switcher shows them so). */
export const LOCALE_NAMES: Record<Locale, string> = { en: "English", "zh-CN": "简体中文" };

"""The public site's pages, feeds and calendars."""

from django.urls import path

from public import feeds, views

urlpatterns = [
    path("", views.home, name="home"),
    path("releases/", views.release_notes, name="release-notes"),
    path("releases/<slug:component>/<path:version>/", views.release_detail, name="release-detail"),
    path("notices/", views.notices, name="notices"),
    path("notices/<int:pk>/", views.notice_detail, name="notice-detail"),
    path("feeds/releases.atom", views.public(feeds.ReleasesFeed()), name="releases-feed"),
    path("feeds/notices.atom", views.public(feeds.NoticesFeed()), name="notices-feed"),
    path("calendar/", views.calendar_page, name="calendar"),
    path("calendar/releases.ics", views.releases_ics, name="releases-ics"),
    path("calendar/windows.ics", views.windows_ics, name="windows-ics"),
]

from django.urls import path

from notes import views

urlpatterns = [
    path("", views.home, name="home"),
    path("calendar/windows.ics", views.windows_ics, name="windows-ics"),
]
